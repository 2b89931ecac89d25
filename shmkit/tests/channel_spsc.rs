//! The SPSC channel: in one process, across processes (stress with sequence numbers and
//! checksums, every wait mode), with the producer killed mid-send many times, and with the
//! consumer killed.

mod channel_probe;
mod common;

use channel_probe::{check, message, send_seq, ChannelProbe};
use common::ProbeOptions;
use shmkit::channel::{spsc, Receiver, Sender, TrySendError, Wait};
use shmkit::ErrorKind;
use std::time::Duration;

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<ChannelProbe>();
}

/// Long enough that a working channel never hits it; a hang fails instead of blocking CI.
const NO_HANG: Duration = Duration::from_secs(30);

#[test]
fn loan_commit_recv_in_place_and_the_copying_conveniences() {
    let seg = common::private_segment(spsc::size_for(1024));
    let map = seg.attach().unwrap();
    assert_eq!(spsc::create_over(map.region()).unwrap(), 1024);
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    assert!(rx.try_recv_ref().unwrap().is_none());

    let mut loan = tx.loan(11).unwrap();
    assert_eq!(loan.len(), 11);
    loan.write_at(0, b"hello").unwrap();
    loan.write_at(5, b", zero").unwrap();
    assert_eq!(
        loan.write_at(8, b"1234").unwrap_err().kind(),
        ErrorKind::OutOfBounds
    );
    // SAFETY: this test is the only process that maps the segment.
    unsafe { loan.as_mut_slice()[10] = b'!' };
    loan.commit();
    // An uncommitted loan is invisible and its space is reused.
    let _discarded = tx.loan(100).unwrap();
    tx.try_send(b"copied").unwrap();
    tx.try_send(b"").unwrap();

    let msg = rx.recv_ref().unwrap();
    assert_eq!(msg.len(), 11);
    let mut part = [0u8; 4];
    msg.read_at(7, &mut part).unwrap();
    assert_eq!(&part, b"zer!");
    assert_eq!(
        msg.read_at(8, &mut part).unwrap_err().kind(),
        ErrorKind::OutOfBounds
    );
    // SAFETY: nobody writes the segment now.
    assert_eq!(unsafe { msg.as_slice() }, b"hello, zer!");
    drop(msg);
    let mut buf = vec![1, 2, 3];
    assert_eq!(rx.recv(&mut buf).unwrap(), 6);
    assert_eq!(buf, b"copied");
    assert_eq!(rx.recv_timeout(&mut buf, NO_HANG).unwrap(), 0);
    assert!(buf.is_empty());
    assert!(rx.try_recv_ref().unwrap().is_none());
}

#[test]
fn full_hands_the_message_back_and_sizes_are_checked() {
    let seg = common::private_segment(spsc::size_for(256));
    let map = seg.attach().unwrap();
    spsc::create_in(map.region(), 0, 256).unwrap();
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    assert_eq!(tx.max_message(), 96);
    assert_eq!(tx.loan(97).unwrap_err().kind(), ErrorKind::TooBig);
    let big = [7u8; 97];
    match tx.try_send(&big) {
        Err(TrySendError::Failed(back, e)) => {
            assert_eq!(back, &big[..]);
            assert_eq!(e.kind(), ErrorKind::TooBig);
        }
        other => panic!("{other:?}"),
    }
    let msg = [1u8; 56]; // 80-byte records: three fill the ring (and its 16 spare bytes)
    for _ in 0..3 {
        tx.try_send(&msg).unwrap();
    }
    match tx.try_send(&msg) {
        Err(TrySendError::Full(back)) => assert_eq!(back, &msg[..]),
        other => panic!("{other:?}"),
    }
    assert_eq!(tx.loan(0).unwrap_err().kind(), ErrorKind::WouldBlock);
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    drop(rx.recv_ref().unwrap());
    // 80 bytes free, but only 16 before the end of the ring: a 56-byte message would need
    // 16 of padding + 80 + 16 spare; a 40-byte one (a 64-byte record) fits, wrapping.
    assert!(matches!(tx.try_send(&msg), Err(TrySendError::Full(_))));
    tx.try_send(&msg[..40]).unwrap();
    drop(rx.recv_ref().unwrap());
    drop(rx.recv_ref().unwrap());
    assert_eq!(rx.recv_ref().unwrap().len(), 40);
    // Bad capacities and places.
    for cap in [0, 100, 64] {
        assert_eq!(
            spsc::create_in(map.region(), 0, cap).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    assert_eq!(
        spsc::create_in(map.region(), 0, 256).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        Sender::open_in(map.region(), 64).unwrap_err().kind(),
        ErrorKind::NotInitialised
    );
}

#[test]
fn one_sender_and_one_receiver_at_a_time() {
    let seg = common::private_segment(spsc::size_for(256));
    let map = seg.attach().unwrap();
    spsc::create_in(map.region(), 0, 256).unwrap();
    let tx = Sender::open_in(map.region(), 0).unwrap();
    assert_eq!(
        Sender::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Busy
    );
    let rx = Receiver::open_in(map.region(), 0).unwrap();
    assert_eq!(
        Receiver::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Busy
    );
    assert_eq!(tx.receiver_alive(), Some(true));
    assert_eq!(rx.sender_alive(), Some(true));
    drop(tx);
    assert_eq!(rx.sender_alive(), None);
    let tx = Sender::open_in(map.region(), 0).unwrap();
    drop(rx);
    assert_eq!(tx.receiver_alive(), None);
    Receiver::open_in(map.region(), 0).unwrap();
}

#[test]
fn every_wait_mode_times_out_on_an_empty_ring() {
    let seg = common::private_segment(spsc::size_for(256));
    let map = seg.attach().unwrap();
    spsc::create_in(map.region(), 0, 256).unwrap();
    let _tx = Sender::open_in(map.region(), 0).unwrap();
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    for wait in [
        Wait::Poll,
        Wait::Block,
        Wait::Adaptive { spins: 100 },
        Wait::default(),
    ] {
        rx.set_wait(wait);
        assert_eq!(rx.wait_mode(), wait);
        let err = rx.recv_ref_timeout(Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{wait:?}: {err}");
    }
}

/// Threads in one process: every message arrives once, in order, whole, through a small
/// ring that wraps at every position.
#[test]
fn threads_every_wait_mode_no_loss_duplication_or_tearing() {
    for wait in [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 64 }] {
        let seg = common::private_segment(spsc::size_for(2048));
        let map = seg.attach().unwrap();
        spsc::create_in(map.region(), 0, 2048).unwrap();
        let mut tx = Sender::open_in(map.region(), 0).unwrap();
        let mut rx = Receiver::open_in(map.region(), 0).unwrap();
        rx.set_wait(wait);
        const N: u64 = 20_000;
        std::thread::scope(|s| {
            s.spawn(move || {
                for seq in 0..N {
                    send_seq(&mut tx, seq).unwrap();
                }
            });
            let mut buf = Vec::new();
            for want in 0..N {
                rx.recv_timeout(&mut buf, NO_HANG).unwrap();
                assert_eq!(check(&buf), Ok(want), "{wait:?}");
            }
        });
    }
}

fn channel_segment(capacity: usize) -> (shmkit::RemoveOnDrop<shmkit::Segment>, shmkit::Key) {
    let seg = common::keyed_segment(spsc::size_for(capacity), 0o600);
    let key = seg.key();
    let map = seg.attach().unwrap();
    spsc::create_in(map.region(), 0, capacity).unwrap();
    (seg, key)
}

/// Another process sends; this one receives in each wait mode.
#[test]
fn processes_every_wait_mode_no_loss_duplication_or_tearing() {
    for wait in [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 256 }] {
        let (seg, key) = channel_segment(4096);
        let map = seg.attach().unwrap();
        let mut rx = Receiver::open_in(map.region(), 0).unwrap();
        rx.set_wait(wait);
        const N: u64 = 100_000;
        let mut probe = common::spawn_probe(
            &ChannelProbe::Send {
                key,
                from: 0,
                count: N,
            },
            ProbeOptions::default(),
        );
        assert_eq!(probe.next_result(), "opened");
        let mut buf = Vec::new();
        for want in 0..N {
            rx.recv_timeout(&mut buf, NO_HANG).unwrap();
            assert_eq!(check(&buf), Ok(want), "{wait:?}");
        }
        assert_eq!(probe.finish(), "sent");
        // The sender let go of its end: the ring is empty and nobody sends.
        assert_eq!(rx.sender_alive(), None);
    }
}

/// A blocking send waits for room: it times out on a ring nobody drains, completes every
/// message once a receiver process drains it, and fails with `PeerDied` once that receiver
/// is killed, instead of waiting forever.
#[test]
fn blocking_send_waits_for_room_times_out_and_sees_a_dead_receiver() {
    let (seg, key) = channel_segment(1024);
    let map = seg.attach().unwrap();
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    let mut n = 0;
    while tx.try_send(&message(n)).is_ok() {
        n += 1;
    }
    let err = tx
        .send_timeout(&message(n), Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");

    const N: u64 = 5000;
    let mut probe = common::spawn_probe(
        &ChannelProbe::RecvN { key, count: N },
        ProbeOptions::default(),
    );
    assert_eq!(probe.next_result(), "opened");
    for seq in n..N {
        tx.send_timeout(&message(seq), NO_HANG).unwrap();
    }
    assert_eq!(probe.finish(), format!("received {N}"));

    let mut probe = common::spawn_probe(
        &ChannelProbe::RecvN {
            key,
            count: 1_000_000_000,
        },
        ProbeOptions::default(),
    );
    assert_eq!(probe.next_result(), "opened");
    probe.kill();
    let mut seq = 0;
    let err = loop {
        if let Err(e) = tx.send_timeout(&message(seq), NO_HANG) {
            break e;
        }
        seq += 1;
    };
    assert_eq!(err.kind(), ErrorKind::PeerDied, "{err}");
}

/// A blocked receiver in another process is woken by a send from this one.
#[test]
fn a_parked_receiver_in_another_process_is_woken() {
    let (seg, key) = channel_segment(4096);
    let map = seg.attach().unwrap();
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    let mut probe = common::spawn_probe(&ChannelProbe::Recv { key }, ProbeOptions::default());
    assert_eq!(probe.next_result(), "opened");
    let pid = probe.child.id();
    common::wait_until("the receiver parks in futex()", || {
        common::in_syscall(pid, libc::SYS_futex)
    });
    tx.try_send(&message(0)).unwrap();
    assert_eq!(probe.finish(), "got Ok(0)");
}

/// The producer is SIGKILLed mid-send again and again; each time the consumer receives a
/// gap-free, untorn prefix, then `PeerDied`, and a new producer takes over.
#[test]
fn producer_killed_mid_send_1000_times() {
    const KILLS: usize = 1000;
    let (seg, key) = channel_segment(4096);
    let map = seg.attach().unwrap();
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    rx.set_wait(Wait::Adaptive { spins: 1024 });
    let mut next = 0u64;
    let mut buf = Vec::new();
    let mut rng = common::random_u64() | 1;
    for round in 0..KILLS {
        let mut probe = common::spawn_probe(
            &ChannelProbe::SendForever { key, from: next },
            ProbeOptions::default(),
        );
        assert_eq!(probe.next_result(), "opened", "round {round}");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Receive some, so the producer is busy writing into the space just freed when it
        // is killed.
        for _ in 0..rng % 64 {
            rx.recv_timeout(&mut buf, NO_HANG).unwrap();
            assert_eq!(check(&buf), Ok(next), "round {round}");
            next += 1;
        }
        probe.kill();
        loop {
            match rx.recv_timeout(&mut buf, NO_HANG) {
                Ok(_) => {
                    assert_eq!(check(&buf), Ok(next), "round {round}");
                    next += 1;
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::PeerDied, "round {round}: {e}");
                    break;
                }
            }
        }
    }
    assert!(next > 0);
    eprintln!("{KILLS} producers killed; {next} messages received in order, whole");
}

/// The consumer is killed while parked: the producer learns it (`receiver_alive`, and
/// `PeerDied` once the ring is full), and a new consumer takes over.
#[test]
fn consumer_killed_is_detected_and_replaced() {
    let (seg, key) = channel_segment(1024);
    let map = seg.attach().unwrap();
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    let mut probe = common::spawn_probe(&ChannelProbe::Recv { key }, ProbeOptions::default());
    assert_eq!(probe.next_result(), "opened");
    let pid = probe.child.id();
    common::wait_until("the receiver parks in futex()", || {
        common::in_syscall(pid, libc::SYS_futex)
    });
    assert_eq!(tx.receiver_alive(), Some(true));
    probe.kill();
    assert_eq!(tx.receiver_alive(), Some(false));
    let mut seq = 0;
    let err = loop {
        match tx.try_send(&message(seq)) {
            Ok(()) => seq += 1,
            Err(e) => break e.into_error(),
        }
    };
    assert_eq!(err.kind(), ErrorKind::PeerDied, "{err}");
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    assert_eq!(tx.receiver_alive(), Some(true));
    let mut buf = Vec::new();
    for want in 0..seq {
        rx.recv_timeout(&mut buf, NO_HANG).unwrap();
        assert_eq!(check(&buf), Ok(want));
    }
    tx.try_send(&message(seq)).unwrap();
    rx.recv_timeout(&mut buf, NO_HANG).unwrap();
    assert_eq!(check(&buf), Ok(seq));
}

#[test]
fn typed_values_round_trip_and_a_full_ring_hands_the_value_back() {
    use shmkit::channel::{TypedReceiver, TypedSender};
    let seg = common::private_segment(spsc::size_for(256));
    let map = seg.attach().unwrap();
    spsc::create_in(map.region(), 0, 256).unwrap();
    let mut tx = TypedSender::<[u64; 3], _>::open_in(map.region(), 0).unwrap();
    let mut rx = TypedReceiver::<[u64; 3], _>::open_in(map.region(), 0).unwrap();
    rx.untyped().set_wait(Wait::Block);
    let mut sent = 0u64;
    let err = loop {
        match tx.try_send([sent, sent * 2, sent * 3]) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err.error.kind(), ErrorKind::WouldBlock);
    assert_eq!(err.value, [sent, sent * 2, sent * 3]);
    for i in 0..sent {
        assert_eq!(rx.recv_timeout(NO_HANG).unwrap(), [i, i * 2, i * 3]);
    }
    assert_eq!(rx.try_recv().unwrap(), None);
    // A message of another size is corrupt for this type.
    tx.untyped().try_send(b"short").unwrap();
    assert_eq!(rx.recv().unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(
        TypedSender::<[u64; 64], _>::open_in(map.region(), 0)
            .unwrap_err()
            .kind(),
        ErrorKind::Busy
    );
}

/// A sender killed after publishing a record but before storing `tail`: the next sender
/// follows the stamps past `tail` instead of overwriting a committed message.
#[test]
fn a_new_sender_replays_commits_its_predecessor_did_not_record_in_tail() {
    let seg = common::private_segment(spsc::size_for(1024));
    let map = seg.attach().unwrap();
    spsc::create_in(map.region(), 0, 1024).unwrap();
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    for seq in 0..3 {
        tx.try_send(&message(seq)).unwrap();
    }
    drop(tx);
    // Roll `tail` (offset 64) back to 0, as if the last stores had not happened.
    map.atomic_u64(64)
        .unwrap()
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, NO_HANG).unwrap();
    assert_eq!(check(&buf), Ok(0));
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    tx.try_send(&message(3)).unwrap();
    for want in 1..4 {
        rx.recv_timeout(&mut buf, NO_HANG).unwrap();
        assert_eq!(check(&buf), Ok(want));
    }
    assert!(rx.try_recv_ref().unwrap().is_none());
}

/// A message whose bytes look like the record headers the next lap will put there (right
/// stamps, right tag) is never taken for a record: the sender clears each next stamp before
/// it publishes.
#[test]
fn message_bytes_that_forge_next_lap_headers_are_never_received() {
    const CAP: u64 = 256;
    let seg = common::private_segment(spsc::size_for(CAP as usize));
    let map = seg.attach().unwrap();
    spsc::create_in(map.region(), 0, CAP as usize).unwrap();
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    // Stream [0, 112): a 96-byte message at ring [16, 112) forging, at every 16-byte ring
    // position q there, the header of a record at stream position CAP + q.
    let mut forged = Vec::new();
    for q in (16..112u64).step_by(16) {
        forged.extend_from_slice(&(CAP + q + 1).to_ne_bytes());
        forged.extend_from_slice(&((0x4d53_4721u64 << 32) | 8).to_ne_bytes());
    }
    assert_eq!(forged.len(), 96);
    tx.try_send(&forged).unwrap();
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, NO_HANG).unwrap();
    assert_eq!(buf, forged);
    // Then 8-byte messages (32-byte records) one at a time through the forged positions.
    for seq in 0..40u64 {
        assert!(rx.try_recv_ref().unwrap().is_none(), "before message {seq}");
        tx.try_send(&seq.to_le_bytes()).unwrap();
        rx.recv_timeout(&mut buf, NO_HANG).unwrap();
        assert_eq!(buf, seq.to_le_bytes());
    }
    assert!(rx.try_recv_ref().unwrap().is_none());
}
