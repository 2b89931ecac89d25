//! The SPSC channel against a hostile peer: scribbled indices, lengths, tags and headers
//! give errors (`Corrupt`, `LayoutMismatch`, ...) or garbage bytes, never an out-of-bounds
//! access, a panic or a hang.

mod common;

use shmkit::channel::{spsc, Receiver, Sender, Wait};
use shmkit::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Offsets from the channel's layout (see `shmkit::channel::spsc`).
const TAIL: usize = 64;
const HEAD: usize = 128;
const RING: usize = 256;
const CAP: usize = 1024;

fn setup() -> (shmkit::RemoveOnDrop<shmkit::Segment>, shmkit::Attachment) {
    let seg = common::private_segment(spsc::size_for(CAP));
    let map = seg.attach().unwrap();
    spsc::create_in(map.region(), 0, CAP).unwrap();
    (seg, map)
}

fn put_u64(map: &shmkit::Attachment, at: usize, v: u64) {
    map.atomic_u64(at).unwrap().store(v, Ordering::SeqCst);
}

fn recv_kind(rx: &mut Receiver<&shmkit::Region>) -> Option<ErrorKind> {
    rx.try_recv_ref().err().map(|e| e.kind())
}

#[test]
fn scribbled_indices_and_records_are_corrupt_errors() {
    const MSG: u64 = 0x4d53_4721 << 32;
    const PAD: u64 = 0x5041_4421 << 32;
    let (_seg, map) = setup();
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    tx.try_send(b"twelve bytes").unwrap();
    // The record at stream position 0: stamp 1 at RING, length-and-tag at RING + 8. A
    // length past max_message, past the end of the ring, a bad tag, padding at offset 0.
    for word in [MSG | 0xffff_ffff, MSG | 1000, 0x1234 << 32 | 4, PAD] {
        put_u64(&map, RING + 8, word);
        assert_eq!(
            recv_kind(&mut rx),
            Some(ErrorKind::Corrupt),
            "record {word:#x}"
        );
    }
    // A stamp that is not ours: nothing to receive (a stamp is only compared).
    put_u64(&map, RING + 8, MSG | 12);
    for stamp in [0, 2, u64::MAX] {
        put_u64(&map, RING, stamp);
        assert!(rx.try_recv_ref().unwrap().is_none(), "stamp {stamp}");
    }
    // Restored, the message is received.
    put_u64(&map, RING, 1);
    assert_eq!(
        rx.try_recv_ref().unwrap().unwrap().to_vec().unwrap(),
        b"twelve bytes"
    );
    // A head past the sender's tail: the sender's next look at it is Corrupt.
    put_u64(&map, HEAD, 4096);
    let err = loop {
        match tx.try_send(b"filler") {
            Ok(()) => continue,
            Err(e) => break e.into_error(),
        }
    };
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    // A new sender or receiver refuses inconsistent indices.
    drop((tx, rx));
    assert_eq!(
        Sender::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    put_u64(&map, HEAD, 5);
    assert_eq!(
        Receiver::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    put_u64(&map, HEAD, 32);
    put_u64(&map, TAIL, u64::MAX);
    assert_eq!(
        Sender::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    // (The receiver checks the tail against the head at open too.)
    assert_eq!(
        Receiver::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    put_u64(&map, TAIL, 32);
    // The header: magic and capacity.
    map.write_at(24, &100u32.to_ne_bytes()).unwrap();
    assert_eq!(
        Receiver::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::LayoutMismatch
    );
    // A larger capacity would reach past the region.
    map.write_at(24, &2048u32.to_ne_bytes()).unwrap();
    assert_eq!(
        Receiver::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::OutOfBounds
    );
    map.write_at(24, &(CAP as u32).to_ne_bytes()).unwrap();
    Receiver::open_in(map.region(), 0).unwrap();
    map.write_at(0, b"garbage!").unwrap();
    assert_eq!(
        Receiver::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::LayoutMismatch
    );
}

/// A scribbler writes random bytes over the control block and the ring while a sender and a
/// receiver (every wait mode, short timeouts) keep going: only errors or garbage bytes.
/// 60 rounds on fresh channels, from one scribbled word to many, so that messages flow
/// before, between and after the scribbles.
#[test]
fn a_scribbler_over_the_control_block_and_ring_gives_only_errors() {
    let errors = AtomicU64::new(0);
    let received = AtomicU64::new(0);
    let mut seed = common::random_u64() | 1;
    for round in 0..60u64 {
        let (_seg, map) = setup();
        let region = map.region();
        let mut tx = Sender::open_in(region, 0).unwrap();
        let mut rx = Receiver::open_in(region, 0).unwrap();
        let stop = AtomicBool::new(false);
        seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut rng = seed;
        let writes = 1 + round * round;
        std::thread::scope(|s| {
            let map = &map;
            s.spawn(move || {
                for _ in 0..writes {
                    for _ in 0..rng % 256 {
                        std::thread::yield_now();
                    }
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    // Mostly the control block (indices, pid slots, futex words), sometimes
                    // the header or the ring's record headers.
                    let at = match rng % 4 {
                        0 | 1 => 64 + (rng >> 8) as usize % 192,
                        2 => (rng >> 8) as usize % 64,
                        _ => RING + ((rng >> 8) as usize % CAP),
                    } & !7;
                    // Small values as often as wild ones: they pass more of the checks.
                    let v = if rng & 0x100 == 0 {
                        (rng >> 20) % 4096
                    } else {
                        rng
                    };
                    put_u64(map, at, v);
                }
            });
            let stop = &stop;
            s.spawn(move || {
                let msg = [0x5au8; 100];
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    if tx.try_send(&msg[..i % 100]).is_err() {
                        std::thread::yield_now();
                    }
                    i += 1;
                }
            });
            let mut buf = Vec::new();
            let modes = [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 16 }];
            for i in 0..2_000usize {
                rx.set_wait(modes[i % 3]);
                match rx.recv_timeout(&mut buf, Duration::from_micros(200)) {
                    Ok(n) => {
                        assert!(n <= spsc::max_message(CAP));
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
    eprintln!(
        "scribbled: {} receives returned data, {} errors",
        received.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
}

fn get_u64(map: &shmkit::Attachment, at: usize) -> u64 {
    map.atomic_u64(at).unwrap().load(Ordering::SeqCst)
}

/// Issue 10, SPSC: the receiver never looked at `tail` and trusted the `head` word, so a
/// `tail` or `head` scribbled further than a ring from the other left its receives waiting
/// for records that could not come (until the timeout; forever without one), and a receiver
/// opened over such indices. Now the receiver's checks (at open, before each park, every
/// few thousand polls) enforce `head - capacity <= tail <= head + capacity` and that the
/// `head` word holds the receiver's own copy: `Corrupt`. The sender's `head` checks were
/// already there (`head <= tail <= head + capacity`, `head` never backwards); pinned here
/// for a waiting send.
#[test]
fn indices_further_apart_than_the_ring_are_corrupt() {
    let (_seg, map) = setup();
    let mut tx = Sender::open_in(map.region(), 0).unwrap();
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    let mut buf = Vec::new();
    // Go round the ring a few times, so that head and tail are past 2 * CAP.
    for i in 0..40u8 {
        tx.try_send(&[i; 100]).unwrap();
        assert_eq!(
            rx.recv_timeout(&mut buf, Duration::from_secs(5)).unwrap(),
            100
        );
    }
    let (head, tail) = (get_u64(&map, HEAD), get_u64(&map, TAIL));
    assert_eq!(head, tail);
    assert!(head > 2 * CAP as u64);
    let cap = CAP as u64;
    // (word, value): each further than a ring from the other index, or a head that is
    // not the receiver's.
    let scribbles = [
        (TAIL, head + cap + 16),
        (TAIL, head - cap - 16),
        (HEAD, head + 16),
        (HEAD, head - 16),
    ];
    for (at, value) in scribbles {
        let saved = get_u64(&map, at);
        put_u64(&map, at, value);
        for wait in [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 16 }] {
            rx.set_wait(wait);
            let err = rx
                .recv_timeout(&mut buf, Duration::from_millis(100))
                .unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Corrupt,
                "{value} at {at}, {wait:?}: {err}"
            );
        }
        put_u64(&map, at, saved);
    }
    // A receiver does not open over a head further than a ring past the tail.
    drop(rx);
    put_u64(&map, HEAD, tail + cap + 16);
    assert_eq!(
        Receiver::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    // The sender waiting for room: a head past its tail is Corrupt at its next look.
    for _ in 0..4 {
        let _ = tx.try_send(&[0; 200]);
    }
    let err = tx
        .send_timeout(&[0; 200], Duration::from_millis(100))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    // Restored, the channel works again.
    put_u64(&map, HEAD, head);
    let mut rx = Receiver::open_in(map.region(), 0).unwrap();
    assert_eq!(
        rx.recv_timeout(&mut buf, Duration::from_secs(5)).unwrap(),
        200
    );
}
