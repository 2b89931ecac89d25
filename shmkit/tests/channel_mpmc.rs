//! The MPMC queue: in one process, across processes (2 producer and 2 consumer processes;
//! messages carry producer id, sequence number and checksum), with producers SIGKILLed
//! mid-send hundreds of times, with a consumer killed holding a message, and against a
//! scribbler process.

mod channel_probe;
mod common;

use channel_probe::{returns_within, say};
use common::probe::{probe_enum, say_reply, Probe};
use common::ProbeOptions;
use shmkit::channel::mpmc::{self, Consumer, Producer, TrySendError};
use shmkit::channel::Wait;
use shmkit::{ErrorKind, Key, Region, Segment};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<MpmcProbe>();
}

/// Long enough that a working queue never hits it; a hang fails instead of blocking CI.
const NO_HANG: Duration = Duration::from_secs(30);
/// Offsets of the positions (see the layout in `shmkit::channel::mpmc`).
const ENQUEUE: usize = 64;
const DEQUEUE: usize = 128;
/// How long a call with a 100 ms timeout may take at most. The requirement is that it
/// returns at all (issue 10: one ran for centuries); the bound only has to be far above
/// 100 ms, on a loaded machine too.
const DEADLINE_BOUND: Duration = Duration::from_secs(5);
/// Slot size of the test queues: the longest test message is 316 bytes.
const MSG: usize = 320;
/// The producer id of the message that tells a consumer process to stop.
const STOP: u64 = (1 << 24) - 1;

/// Message `seq` of producer `id`: the channel tests' message of the number
/// `id << 40 | seq` (that number, 0 to 300 bytes derived from it, an FNV-1a checksum).
fn message(id: u64, seq: u64) -> Vec<u8> {
    channel_probe::message(id << 40 | seq)
}

/// Checks a received message: whole and exactly as sent; returns (producer id, seq).
fn check(m: &[u8]) -> Result<(u64, u64), String> {
    channel_probe::check(m).map(|n| (n >> 40, n & ((1 << 40) - 1)))
}

/// Sends message `seq` of producer `id`, alternating the zero-copy and copying paths.
fn send<R: std::ops::Deref<Target = Region>>(
    tx: &mut Producer<R>,
    id: u64,
    seq: u64,
) -> Result<(), String> {
    let m = message(id, seq);
    if seq % 2 == 0 {
        return tx.send_timeout(&m, NO_HANG).map_err(|e| e.to_string());
    }
    loop {
        match tx.loan(m.len()) {
            Ok(loan) => {
                loan.write_at(0, &m).map_err(|e| e.to_string())?;
                return loan.commit().map_err(|e| e.to_string());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Per-producer order: each consumer sees a producer's messages in increasing order.
#[derive(Default)]
struct Order(HashMap<u64, u64>);

impl Order {
    fn see(&mut self, id: u64, seq: u64) -> Result<(), String> {
        if let Some(&last) = self.0.get(&id) {
            if seq <= last {
                return Err(format!("producer {id}: {seq} after {last}"));
            }
        }
        self.0.insert(id, seq);
        Ok(())
    }
}

fn attach(key: Key) -> shmkit::Attachment {
    Segment::open(key)
        .and_then(|s| s.attach())
        .expect("attaching the test segment")
}

fn wait_mode(name: &str) -> Wait {
    match name {
        "poll" => Wait::Poll,
        "block" => Wait::Block,
        _ => Wait::Adaptive { spins: 256 },
    }
}

probe_enum! {
    /// What an MPMC probe process does with the queue at offset 0 of the test segment
    /// `key`. The endpoints say `opened` once open.
    enum MpmcProbe {
        /// Send messages `0..count` as producer `id`; reply `sent`.
        Produce { key: Key, id: u64, count: u64 },
        /// Send messages 0, 1, … as producer `id` until killed.
        ProduceForever { key: Key, id: u64 },
        /// Receive until a `STOP` message, checking each message and per-producer order;
        /// write the (id, seq) pairs to `record`; reply a [`Consumed`].
        Consume { key: Key, record: PathBuf, wait: Wait },
        /// Receive one message in place (blocking), say `holding CHECK`, and hold it until
        /// stdin closes or the probe is killed.
        Hold { key: Key },
        /// `writes` random u64 writes over the first `len` bytes; reply `done`.
        Scribble { key: Key, seed: u64, writes: u64, len: usize },
        /// One u64 write at `offset`, as a hostile peer's; reply `done`.
        Poke { key: Key, offset: usize, value: u64 },
        /// Say `started`, then write the u64 at `offset` again and again until killed.
        Hammer { key: Key, offset: usize, value: u64 },
    }
}

probe_enum! {
    /// The reply of [`MpmcProbe::Consume`].
    enum Consumed {
        /// Received `count` data messages, whole and in order.
        Done { count: u64 },
        /// What went wrong.
        Failed { why: String },
    }
}

impl Probe for MpmcProbe {
    const FAMILY: &'static str = "MpmcProbe";

    fn run(self) {
        match self {
            MpmcProbe::Produce { key, id, count } => produce(key, id, 0..count),
            MpmcProbe::ProduceForever { key, id } => produce(key, id, 0..),
            MpmcProbe::Consume { key, record, wait } => say_reply(&consume(key, &record, wait)),
            MpmcProbe::Hold { key } => hold(key),
            MpmcProbe::Scribble {
                key,
                seed,
                writes,
                len,
            } => scribble(key, seed, writes, len),
            MpmcProbe::Poke { key, offset, value } => poke(key, offset, value),
            MpmcProbe::Hammer { key, offset, value } => hammer(key, offset, value),
        }
    }
}

/// Sends the messages numbered `seqs` as producer `id`; replies `sent` when they end (an
/// unbounded range never does).
fn produce(key: Key, id: u64, seqs: impl Iterator<Item = u64>) {
    let map = attach(key);
    let mut tx = Producer::open_in(map.region(), 0).expect("open");
    say("opened");
    for seq in seqs {
        if let Err(e) = send(&mut tx, id, seq) {
            return say(format!("send failed: {e}"));
        }
    }
    say("sent");
}

fn consume(key: Key, record: &Path, wait: Wait) -> Consumed {
    let failed = |why: String| Consumed::Failed { why };
    let map = attach(key);
    let mut rx = Consumer::open_in(map.region(), 0).expect("open");
    rx.set_wait(wait);
    say("opened");
    let mut out = Vec::new();
    let mut order = Order::default();
    let mut buf = [0u8; MSG];
    loop {
        let n = match rx.recv_timeout(&mut buf, NO_HANG) {
            Ok(n) => n,
            Err(e) => return failed(format!("recv failed: {e}")),
        };
        let (id, seq) = match check(&buf[..n]) {
            Ok(got) => got,
            Err(e) => return failed(format!("bad message: {e}")),
        };
        if id == STOP {
            break;
        }
        if let Err(e) = order.see(id, seq) {
            return failed(format!("out of order: {e}"));
        }
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
    }
    std::fs::write(record, &out).expect("writing the consumer's record");
    Consumed::Done {
        count: out.len() as u64 / 16,
    }
}

fn hold(key: Key) {
    let map = attach(key);
    let mut rx = Consumer::open_in(map.region(), 0).expect("open");
    rx.set_wait(Wait::Block);
    say("opened");
    let msg = match rx.recv_ref_timeout(NO_HANG) {
        Ok(msg) => msg,
        Err(e) => return say(format!("recv failed: {e}")),
    };
    say(format!("holding {:?}", msg.to_vec().map(|m| check(&m))));
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(msg);
}

fn scribble(key: Key, seed: u64, writes: u64, len: usize) {
    let map = attach(key);
    let mut rng = seed | 1;
    for _ in 0..writes {
        for _ in 0..rng % 4096 {
            std::hint::spin_loop();
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Mostly the control block and the slots' sequence and length words; small
        // values as often as wild ones, as they pass more of the checks.
        let at = match rng % 4 {
            0 => (rng >> 8) as usize % 256,
            1 => (rng >> 8) as usize % len,
            _ => slot((rng >> 8) as usize % 8) + (rng as usize & 8),
        } & !7;
        let v = if rng & 0x100 == 0 {
            (rng >> 20) % 256
        } else {
            rng
        };
        if at + 8 <= len {
            map.atomic_u64(at).unwrap().store(v, Ordering::SeqCst);
        }
    }
    say("done");
}

fn poke(key: Key, offset: usize, value: u64) {
    let map = attach(key);
    map.atomic_u64(offset)
        .unwrap()
        .store(value, Ordering::SeqCst);
    say("done");
}

fn hammer(key: Key, offset: usize, value: u64) {
    let map = attach(key);
    let word = map.atomic_u64(offset).unwrap();
    say("started");
    loop {
        word.store(value, Ordering::SeqCst);
        std::hint::spin_loop();
    }
}

/// Offset of slot `i` (see the layout in `shmkit::channel::mpmc`).
fn slot(i: usize) -> usize {
    mpmc::size_for(i, MSG)
}

fn queue_segment(capacity: usize) -> (shmkit::RemoveOnDrop<Segment>, Key) {
    let seg = common::keyed_segment(mpmc::size_for(capacity, MSG), 0o600);
    let key = seg.key();
    let map = seg.attach().unwrap();
    mpmc::create_in(map.region(), 0, capacity, MSG).unwrap();
    (seg, key)
}

#[test]
fn round_trip_loans_and_views() {
    let seg = common::private_segment(mpmc::size_for(8, MSG));
    let map = seg.attach().unwrap();
    assert_eq!(mpmc::create_over(map.region(), MSG).unwrap(), 8);
    let mut tx = Producer::open_in(map.region(), 0).unwrap();
    let mut rx = Consumer::open_in(map.region(), 0).unwrap();
    assert_eq!((tx.capacity(), tx.message_size()), (8, MSG));
    let mut buf = [0u8; MSG];
    assert_eq!(rx.try_recv(&mut buf).unwrap(), None);

    tx.try_send(b"copied").unwrap();
    let loan = tx.loan(11).unwrap();
    assert_eq!(loan.len(), 11);
    loan.write_at(0, b"hello").unwrap();
    loan.write_at(5, b", zero").unwrap();
    assert_eq!(
        loan.write_at(8, b"1234").unwrap_err().kind(),
        ErrorKind::OutOfBounds
    );
    loan.commit().unwrap();
    // A loan dropped without a commit becomes a skip: never received.
    drop(tx.loan(20).unwrap());
    tx.try_send(b"").unwrap();
    tx.try_send(&[7u8; MSG]).unwrap();

    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(6));
    assert_eq!(&buf[..6], b"copied");
    let msg = rx.recv_ref().unwrap();
    assert_eq!(msg.len(), 11);
    let mut part = [0u8; 4];
    msg.read_at(7, &mut part).unwrap();
    assert_eq!(&part, b"zero");
    assert_eq!(
        msg.read_at(8, &mut part).unwrap_err().kind(),
        ErrorKind::OutOfBounds
    );
    assert_eq!(msg.to_vec().unwrap(), b"hello, zero");
    msg.finish().unwrap();
    assert_eq!(rx.recv_timeout(&mut buf, NO_HANG).unwrap(), 0);
    let msg = rx.try_recv_ref().unwrap().unwrap();
    assert_eq!(msg.to_vec().unwrap(), [7u8; MSG]);
    drop(msg);
    assert!(rx.try_recv_ref().unwrap().is_none());
    // Many laps through the 8 slots, two handles of each kind in one process.
    let mut tx2 = Producer::open_in(map.region(), 0).unwrap();
    let mut rx2 = Consumer::open_in(map.region(), 0).unwrap();
    for seq in 0..100u64 {
        send(if seq % 3 == 0 { &mut tx } else { &mut tx2 }, 1, seq).unwrap();
        let rx = if seq % 2 == 0 { &mut rx } else { &mut rx2 };
        let n = rx.recv_timeout(&mut buf, NO_HANG).unwrap();
        assert_eq!(check(&buf[..n]), Ok((1, seq)));
    }
}

#[test]
fn a_full_queue_hands_the_message_back_and_sizes_are_checked() {
    let seg = common::private_segment(mpmc::size_for(4, MSG));
    let map = seg.attach().unwrap();
    mpmc::create_in(map.region(), 0, 4, MSG).unwrap();
    let mut tx = Producer::open_in(map.region(), 0).unwrap();
    let big = [1u8; MSG + 1];
    match tx.try_send(&big) {
        Err(TrySendError::Failed(back, e)) => {
            assert_eq!(back, &big[..]);
            assert_eq!(e.kind(), ErrorKind::TooBig);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tx.loan(MSG + 1).unwrap_err().kind(), ErrorKind::TooBig);
    for i in 0..4u8 {
        tx.try_send(&[i; 10]).unwrap();
    }
    let msg = [9u8; 10];
    match tx.try_send(&msg) {
        Err(TrySendError::Full(back)) => assert_eq!(back, &msg[..]),
        other => panic!("{other:?}"),
    }
    assert_eq!(tx.loan(1).unwrap_err().kind(), ErrorKind::WouldBlock);
    // No consumer registered: send waits (and here times out); a live one: the same.
    let err = tx
        .send_timeout(&msg, Duration::from_millis(20))
        .unwrap_err()
        .into_error();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    let mut rx = Consumer::open_in(map.region(), 0).unwrap();
    assert_eq!(tx.consumers_alive(), Some(true));
    assert_eq!(rx.producers_alive(), Some(true));
    let err = tx
        .send_timeout(&msg, Duration::from_millis(20))
        .unwrap_err()
        .into_error();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    let mut short = [0u8; MSG - 1];
    assert_eq!(
        rx.try_recv(&mut short).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let mut buf = [0u8; MSG];
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(10));
    assert_eq!(&buf[..10], &[0u8; 10]);
    tx.send(&msg).unwrap();
    for want in [1u8, 2, 3, 9] {
        assert_eq!(rx.recv(&mut buf).unwrap(), 10);
        assert_eq!(&buf[..10], &[want; 10]);
    }
    // Bad capacities, message sizes and places.
    let too_big = (mpmc::MAX_CAPACITY, mpmc::MAX_MESSAGE); // past 4 GiB in all
    for (cap, size) in [
        (0, 8),
        (3, 8),
        (1, 8),
        (4, 0),
        (4, mpmc::MAX_MESSAGE + 1),
        too_big,
    ] {
        assert_eq!(
            mpmc::create_in(map.region(), 0, cap, size)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument,
            "{cap} {size}"
        );
    }
    assert_eq!(
        mpmc::create_in(map.region(), 0, 4, MSG).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        Producer::open_in(map.region(), 64).unwrap_err().kind(),
        ErrorKind::NotInitialised
    );
    let small = common::private_segment(4096);
    let small = small.attach().unwrap();
    assert_eq!(
        mpmc::create_over(small.region(), MSG).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn every_wait_mode_times_out_on_an_empty_queue() {
    let seg = common::private_segment(mpmc::size_for(4, MSG));
    let map = seg.attach().unwrap();
    mpmc::create_in(map.region(), 0, 4, MSG).unwrap();
    let mut rx = Consumer::open_in(map.region(), 0).unwrap();
    let mut buf = [0u8; MSG];
    for with_producer in [false, true] {
        let _tx = with_producer.then(|| Producer::open_in(map.region(), 0).unwrap());
        for wait in [
            Wait::Poll,
            Wait::Block,
            Wait::Adaptive { spins: 100 },
            Wait::default(),
        ] {
            rx.set_wait(wait);
            assert_eq!(rx.wait_mode(), wait);
            let err = rx
                .recv_timeout(&mut buf, Duration::from_millis(20))
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut, "{wait:?}: {err}");
        }
    }
}

/// A handle forgotten while it holds a claim (here in this process, as a killed process
/// would) blocks its slot only until its entry is gone: a stuck consumer publishes a skip
/// for a dead producer's claim, a stuck producer frees a dead consumer's slot.
#[test]
fn slots_left_claimed_by_a_vanished_handle_are_repaired() {
    let seg = common::private_segment(mpmc::size_for(2, MSG));
    let map = seg.attach().unwrap();
    mpmc::create_in(map.region(), 0, 2, MSG).unwrap();
    let mut rx = Consumer::open_in(map.region(), 0).unwrap();
    rx.set_wait(Wait::Poll);
    let mut buf = [0u8; MSG];
    {
        let mut gone = Producer::open_in(map.region(), 0).unwrap();
        std::mem::forget(gone.loan(5).unwrap()); // claims position 0, never publishes
    }
    let mut tx = Producer::open_in(map.region(), 0).unwrap();
    tx.try_send(b"after").unwrap(); // position 1
    assert_eq!(
        rx.try_recv(&mut buf).unwrap(),
        None,
        "position 0 is unpublished"
    );
    assert_eq!(rx.recv_timeout(&mut buf, NO_HANG).unwrap(), 5);
    assert_eq!(&buf[..5], b"after");

    tx.try_send(b"lost").unwrap(); // position 2, slot 0
    {
        let mut gone = Consumer::open_in(map.region(), 0).unwrap();
        std::mem::forget(gone.try_recv_ref().unwrap().unwrap()); // never released
    }
    tx.try_send(b"three").unwrap(); // position 3, slot 1
    assert!(matches!(tx.try_send(b"four"), Err(TrySendError::Full(_))));
    // Position 4 needs slot 0, which the vanished consumer holds: send repairs it.
    tx.send_timeout(b"four", NO_HANG).unwrap();
    for want in [&b"three"[..], b"four"] {
        let n = rx.recv_timeout(&mut buf, NO_HANG).unwrap();
        assert_eq!(&buf[..n], want);
    }
    assert_eq!(rx.try_recv(&mut buf).unwrap(), None);
}

/// Threads in one process, three producers and three consumers in each wait mode: every
/// message arrives once, whole, in per-producer order.
#[test]
fn threads_no_loss_duplication_or_tearing() {
    const N: u64 = 5_000;
    for wait in [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 64 }] {
        let seg = common::private_segment(mpmc::size_for(16, MSG));
        let map = seg.attach().unwrap();
        mpmc::create_in(map.region(), 0, 16, MSG).unwrap();
        let region = map.region();
        let received = AtomicU64::new(0);
        let seen: Vec<Vec<(u64, u64)>> = std::thread::scope(|s| {
            for id in 0..3u64 {
                let mut tx = Producer::open_in(region, 0).unwrap();
                s.spawn(move || {
                    for seq in 0..N {
                        send(&mut tx, id, seq).unwrap();
                    }
                });
            }
            let consumers: Vec<_> = (0..3)
                .map(|_| {
                    let mut rx = Consumer::open_in(region, 0).unwrap();
                    rx.set_wait(wait);
                    let received = &received;
                    s.spawn(move || {
                        let mut got = Vec::new();
                        let mut order = Order::default();
                        let mut buf = [0u8; MSG];
                        while received.load(Ordering::Relaxed) < 3 * N {
                            match rx.recv_timeout(&mut buf, Duration::from_millis(5)) {
                                Ok(n) => {
                                    let (id, seq) = check(&buf[..n]).unwrap();
                                    order.see(id, seq).unwrap();
                                    got.push((id, seq));
                                    received.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}"),
                            }
                        }
                        got
                    })
                })
                .collect();
            consumers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        let mut all: Vec<(u64, u64)> = seen.into_iter().flatten().collect();
        all.sort_unstable();
        let want: Vec<(u64, u64)> = (0..3).flat_map(|id| (0..N).map(move |s| (id, s))).collect();
        assert!(all == want, "{wait:?}: lost or duplicated messages");
    }
}

/// Two producer processes and two consumer processes: every message arrives exactly once,
/// whole, and each consumer sees each producer's messages in order.
#[test]
fn processes_two_producers_two_consumers() {
    const N: u64 = 30_000;
    let (seg, key) = queue_segment(64);
    let dir = common::TempDir::new("mpmc");
    let files: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("c{i}"))).collect();
    let mut consumers: Vec<_> = files
        .iter()
        .zip([Wait::Adaptive { spins: 256 }, Wait::Block])
        .map(|(file, wait)| {
            let consume = MpmcProbe::Consume {
                key,
                record: file.clone(),
                wait,
            };
            let mut p = common::spawn_probe(&consume, ProbeOptions::default());
            assert_eq!(p.next_result(), "opened");
            p
        })
        .collect();
    let producers: Vec<_> = (0..2u64)
        .map(|id| {
            let mut p = common::spawn_probe(
                &MpmcProbe::Produce { key, id, count: N },
                ProbeOptions::default(),
            );
            assert_eq!(p.next_result(), "opened");
            p
        })
        .collect();
    for p in producers {
        assert_eq!(p.finish(), "sent");
    }
    // Every data message is at a lower position than the two stops: each consumer stops
    // at its first, so each gets one.
    let map = seg.attach().unwrap();
    let mut tx = Producer::open_in(map.region(), 0).unwrap();
    for seq in 0..2 {
        tx.send_timeout(&message(STOP, seq), NO_HANG).unwrap();
    }
    let mut total = 0;
    for p in consumers.drain(..) {
        match p.finish_reply() {
            Consumed::Done { count } => total += count,
            failed => panic!("consumer: {failed:?}"),
        }
    }
    assert_eq!(total, 2 * N);
    let mut all = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        all.extend(bytes.chunks(16).map(|c| {
            (
                u64::from_le_bytes(c[..8].try_into().unwrap()),
                u64::from_le_bytes(c[8..].try_into().unwrap()),
            )
        }));
    }
    all.sort_unstable();
    let want: Vec<(u64, u64)> = (0..2).flat_map(|id| (0..N).map(move |s| (id, s))).collect();
    assert!(all == want, "lost or duplicated messages");
}

/// A producer process is SIGKILLed mid-send, round after round, while another keeps
/// sending: the consumer never gets a torn or duplicated message, each producer's messages
/// arrive in order without a gap (only the killed one's unfinished send is missing), and
/// the slot a killed producer claimed is skipped, so the queue never hangs.
#[test]
fn producers_killed_mid_send_300_times() {
    const KILLS: u64 = 300;
    let (seg, key) = queue_segment(8);
    let map = seg.attach().unwrap();
    let mut rx = Consumer::open_in(map.region(), 0).unwrap();
    rx.set_wait(Wait::Adaptive { spins: 1024 });
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut buf = [0u8; MSG];
    let mut rng = common::random_u64() | 1;
    let mut receive = |rx: &mut Consumer<&Region>, round: u64| -> Result<(), shmkit::Error> {
        let n = rx.recv_timeout(&mut buf, NO_HANG)?;
        let (id, seq) = check(&buf[..n]).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let want = next.entry(id).or_insert(0);
        assert_eq!(seq, *want, "round {round}: producer {id}");
        *want += 1;
        Ok(())
    };
    for round in 0..KILLS {
        let mut probe = common::spawn_probe(
            &MpmcProbe::ProduceForever { key, id: round },
            ProbeOptions::default(),
        );
        assert_eq!(probe.next_result(), "opened", "round {round}");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        for _ in 0..rng % 48 {
            receive(&mut rx, round).unwrap();
        }
        probe.kill();
        // Drain: everything it published, then PeerDied (no producer is alive).
        let err = loop {
            if let Err(e) = receive(&mut rx, round) {
                break e;
            }
        };
        assert_eq!(err.kind(), ErrorKind::PeerDied, "round {round}: {err}");
    }
    let received: u64 = next.values().sum();
    assert!(received > 0);
    eprintln!("{KILLS} producers killed; {received} messages received in order, whole");
}

/// A consumer process parked in `FUTEX_WAIT` is woken by a send from this process; killed
/// while it holds that message, it is detected (`consumers_alive`, then `PeerDied` on a
/// full queue), its slot is freed for the next lap, and a new consumer takes over.
#[test]
fn a_parked_consumer_is_woken_and_when_killed_holding_a_message_is_repaired() {
    let (seg, key) = queue_segment(4);
    let id = seg.id();
    let map = seg.attach().unwrap();
    let mut tx = Producer::open_in(map.region(), 0).unwrap();
    let mut probe = common::spawn_probe(&MpmcProbe::Hold { key }, ProbeOptions::default());
    assert_eq!(probe.next_result(), "opened");
    let pid = probe.child.id();
    common::wait_until("the consumer parks in futex()", || {
        common::in_syscall(pid, libc::SYS_futex)
    });
    tx.try_send(&message(0, 0)).unwrap();
    assert_eq!(probe.next_result(), "holding Ok(Ok((0, 0)))");
    assert_eq!(tx.consumers_alive(), Some(true));
    probe.kill();
    assert_eq!(tx.consumers_alive(), Some(false));
    // Slots 1..3 fill; position 4 needs slot 0, which the dead consumer held: repaired.
    // Then the queue is full with every consumer dead.
    let mut seq = 1;
    let err = loop {
        match tx.send_timeout(&message(0, seq), NO_HANG) {
            Ok(()) => seq += 1,
            Err(e) => break e.into_error(),
        }
    };
    assert_eq!(err.kind(), ErrorKind::PeerDied, "{err}");
    assert_eq!(seq, 5);
    let mut rx = Consumer::open_in(map.region(), 0).unwrap();
    let mut buf = [0u8; MSG];
    for want in 1..5 {
        let n = rx.recv_timeout(&mut buf, NO_HANG).unwrap();
        assert_eq!(check(&buf[..n]), Ok((0, want)));
    }
    drop((tx, rx));
    drop(map);
    drop(seg);
    assert!(Segment::from_id(id).is_err(), "the segment is removed");
}

/// Scribbled words: sequence words no peer can write, lengths past the slot, positions past
/// 2^60 and header fields give errors, never an access outside the queue.
#[test]
fn scribbled_words_are_corrupt_errors() {
    let seg = common::private_segment(mpmc::size_for(4, MSG));
    let map = seg.attach().unwrap();
    mpmc::create_in(map.region(), 0, 4, MSG).unwrap();
    let put = |at: usize, v: u64| map.atomic_u64(at).unwrap().store(v, Ordering::SeqCst);
    let get = |at: usize| map.atomic_u64(at).unwrap().load(Ordering::SeqCst);
    let mut tx = Producer::open_in(map.region(), 0).unwrap();
    let mut rx = Consumer::open_in(map.region(), 0).unwrap();
    let mut buf = [0u8; MSG];
    tx.try_send(b"fine").unwrap();
    // Slot 0's sequence word is now 2 * 1 (published for position 0). Words that name
    // another slot's positions, or a skip bit on a free slot:
    for bad in [2 * 2, 2 * 3 + 1, 1, 2 * 5] {
        put(slot(0), bad);
        let err = rx.try_recv(&mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{bad:#x}: {err}");
    }
    put(slot(0), 2);
    // A length past the slot: Corrupt, and the slot is released.
    map.write_at(slot(0) + 8, &(MSG as u32 + 1).to_ne_bytes())
        .unwrap();
    assert_eq!(
        rx.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!(get(slot(0)), 2 * 4, "released for position 4");
    // Positions past 2^60.
    put(64, 1 << 61);
    assert_eq!(
        tx.try_send(b"x").unwrap_err().into_error().kind(),
        ErrorKind::Corrupt
    );
    put(64, 1);
    put(128, u64::MAX);
    assert_eq!(
        rx.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    // A position the slot shows to be stale, but that does not move.
    put(128, 1);
    put(slot(1), 2 * 5);
    assert_eq!(
        rx.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    put(slot(1), 2); // free for position 1
    assert_eq!(rx.try_recv(&mut buf).unwrap(), None);
    tx.try_send(b"again").unwrap();
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(5));
    // The header: message size, total size, magic.
    drop((tx, rx));
    map.write_at(24, &(MSG as u32 * 2).to_ne_bytes()).unwrap();
    assert_eq!(
        Consumer::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::LayoutMismatch
    );
    map.write_at(24, &(MSG as u32).to_ne_bytes()).unwrap();
    let total = mpmc::size_for(8, MSG) as u32;
    map.write_at(20, &total.to_ne_bytes()).unwrap();
    assert_eq!(
        Consumer::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::OutOfBounds
    );
    map.write_at(20, &(mpmc::size_for(4, MSG) as u32).to_ne_bytes())
        .unwrap();
    Producer::open_in(map.region(), 0).unwrap();
    map.write_at(0, b"garbage!").unwrap();
    assert_eq!(
        Producer::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::LayoutMismatch
    );
}

/// A scribbler process writes random words over the control block, the handle table and
/// the slots while two producer and two consumer threads here keep going with short
/// timeouts: only errors or garbage bytes, no panic, no hang. 20 rounds on fresh queues.
#[test]
fn a_scribbler_process_gives_only_errors() {
    let (mut ok, mut errors) = (0u64, 0u64);
    for round in 0..20u64 {
        let (seg, key) = queue_segment(8);
        let len = mpmc::size_for(8, MSG);
        let map = seg.attach().unwrap();
        let region = map.region();
        let stop = AtomicBool::new(false);
        let writes = 1 + round * round;
        let seed = common::random_u64();
        let scribbler = common::spawn_probe(
            &MpmcProbe::Scribble {
                key,
                seed,
                writes,
                len,
            },
            ProbeOptions::default(),
        );
        let counts = std::thread::scope(|s| {
            for _ in 0..2 {
                let stop = &stop;
                s.spawn(move || {
                    let Ok(mut tx) = Producer::open_in(region, 0) else {
                        return;
                    };
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let _ = tx.send_timeout(&message(0, i), Duration::from_micros(200));
                        i += 1;
                    }
                });
            }
            let consumers: Vec<_> = (0..2)
                .map(|c| {
                    let stop = &stop;
                    s.spawn(move || {
                        let (mut ok, mut errors) = (0u64, 0u64);
                        let Ok(mut rx) = Consumer::open_in(region, 0) else {
                            return (0, 1);
                        };
                        let modes = [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 16 }];
                        let mut buf = [0u8; MSG];
                        let mut i = c;
                        while !stop.load(Ordering::Relaxed) {
                            rx.set_wait(modes[i % 3]);
                            match rx.recv_timeout(&mut buf, Duration::from_micros(200)) {
                                Ok(n) => {
                                    assert!(n <= MSG);
                                    ok += 1;
                                }
                                Err(_) => errors += 1,
                            }
                            i += 1;
                        }
                        (ok, errors)
                    })
                })
                .collect();
            // Stop the threads before any assertion, so a failure cannot leave them running.
            let result = scribbler.finish();
            stop.store(true, Ordering::Relaxed);
            let counts = consumers
                .into_iter()
                .map(|c| c.join().unwrap())
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            assert_eq!(result, "done", "round {round}");
            counts
        });
        ok += counts.0;
        errors += counts.1;
    }
    eprintln!("scribbled: {ok} receives returned data, {errors} errors");
}

#[test]
fn typed_values_round_trip_and_a_full_queue_hands_the_value_back() {
    use shmkit::channel::mpmc::{TypedConsumer, TypedProducer};
    let seg = common::private_segment(mpmc::size_for(4, 24));
    let map = seg.attach().unwrap();
    mpmc::create_in(map.region(), 0, 4, 24).unwrap();
    let mut tx = TypedProducer::<[u64; 3], _>::open_in(map.region(), 0).unwrap();
    let mut rx = TypedConsumer::<[u64; 3], _>::open_in(map.region(), 0).unwrap();
    rx.untyped().set_wait(Wait::Block);
    for i in 0..4 {
        tx.try_send([i, i * 2, i * 3]).unwrap();
    }
    let err = tx.try_send([9, 9, 9]).unwrap_err();
    assert_eq!(err.error.kind(), ErrorKind::WouldBlock);
    assert_eq!(err.value, [9, 9, 9]);
    let err = tx
        .send_timeout([8, 8, 8], Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(
        (err.error.kind(), err.value),
        (ErrorKind::TimedOut, [8, 8, 8])
    );
    for i in 0..4 {
        assert_eq!(rx.recv_timeout(NO_HANG).unwrap(), [i, i * 2, i * 3]);
    }
    assert_eq!(rx.try_recv().unwrap(), None);
    // A message of another size is corrupt for this type.
    tx.untyped().try_send(b"short").unwrap();
    assert_eq!(rx.try_recv().unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(
        TypedProducer::<[u64; 4], _>::open_in(map.region(), 0)
            .unwrap_err()
            .kind(),
        ErrorKind::TooBig
    );
}

/// Issue 10: another process set `enqueue` to 2^59 (below the 2^60 limit). Every free slot
/// then looked like a dead producer's claim: each check repaired one, said "look again",
/// and the wait looked again without looking at its deadline, so a 100 ms `recv_timeout`
/// ran at 100 % CPU for as long as 2^59 repairs take. Now the positions are checked against
/// each other (`Corrupt`), and a deadline is looked at after every check. Every wait mode;
/// the write comes from another process.
#[test]
fn recv_timeout_returns_after_another_process_sets_enqueue_to_2_pow_59() {
    for mode in ["poll", "block", "adaptive"] {
        let (seg, key) = queue_segment(8);
        let map = seg.attach().unwrap();
        // A live producer, so that the wait has no dead producers to report.
        let _tx = Producer::open_in(map.region(), 0).unwrap();
        let mut rx = Consumer::open_in(seg.attach().unwrap(), 0).unwrap();
        rx.set_wait(wait_mode(mode));
        let poke = common::run_probe(
            &MpmcProbe::Poke {
                key,
                offset: ENQUEUE,
                value: 1 << 59,
            },
            ProbeOptions::default(),
        );
        assert_eq!(poke.result(), "done");
        assert_eq!(
            map.atomic_u64(ENQUEUE).unwrap().load(Ordering::SeqCst),
            1 << 59
        );
        // The bound is the requirement: the call returns (TimedOut or Corrupt), long before
        // DEADLINE_BOUND.
        let got = returns_within(DEADLINE_BOUND, move || {
            let mut buf = [0u8; MSG];
            rx.recv_timeout(&mut buf, Duration::from_millis(100))
                .map_err(|e| e.kind())
        })
        .unwrap_or_else(|| {
            panic!("{mode}: recv_timeout(100 ms) still running after {DEADLINE_BOUND:?}")
        });
        assert!(
            matches!(got, Err(ErrorKind::Corrupt | ErrorKind::TimedOut)),
            "{mode}: {got:?}"
        );
    }
}

/// Issue 10, the producer's side: `send_until` went straight back to polling after a
/// repair, past its deadline and liveness checks, so a peer that keeps making the slot in
/// front of a full queue's producer look like a dead producer's claim kept it there. Here
/// another process writes "position 0 claimed, not published" into slot 0 again and again
/// (the positions stay consistent: 2 claimed, 0 received, capacity 2), so every check
/// finds a slot to repair; a 100 ms `send_timeout` must still return.
#[test]
fn send_timeout_returns_while_another_process_keeps_writing_a_dead_claim() {
    let (seg, key) = queue_segment(2);
    let map = seg.attach().unwrap();
    // A live consumer, so that the wait has no dead consumers to report.
    let _rx = Consumer::open_in(map.region(), 0).unwrap();
    let mut tx = Producer::open_in(seg.attach().unwrap(), 0).unwrap();
    tx.try_send(b"zero").unwrap();
    tx.try_send(b"one").unwrap();
    let mut hammer = common::spawn_probe(
        &MpmcProbe::Hammer {
            key,
            offset: slot(0),
            value: 0,
        },
        ProbeOptions::default(),
    );
    assert_eq!(hammer.next_result(), "started");
    // The bound is the requirement: the call returns (TimedOut), long before DEADLINE_BOUND.
    let got = returns_within(DEADLINE_BOUND, move || {
        tx.send_timeout(b"two", Duration::from_millis(100))
            .map_err(|e| e.into_error().kind())
    });
    hammer.kill();
    let got = got
        .unwrap_or_else(|| panic!("send_timeout(100 ms) still running after {DEADLINE_BOUND:?}"));
    assert!(
        matches!(got, Err(ErrorKind::TimedOut | ErrorKind::Corrupt)),
        "{got:?}"
    );
}

/// Issue 10: positions further apart than the capacity are `Corrupt`, not repairs. With
/// `enqueue` a lap and one past `dequeue` on an empty queue, every free slot looked like a
/// dead producer's claim, and a receive skipped them one by one before it timed out; with
/// `dequeue` past `enqueue` on a full queue, a waiting producer "repaired" the oldest
/// message, which nobody had received, and overwrote it.
#[test]
fn positions_further_apart_than_the_capacity_are_corrupt_not_repaired() {
    let seg = common::private_segment(mpmc::size_for(4, MSG));
    let map = seg.attach().unwrap();
    mpmc::create_in(map.region(), 0, 4, MSG).unwrap();
    let put = |at: usize, v: u64| map.atomic_u64(at).unwrap().store(v, Ordering::SeqCst);
    let get = |at: usize| map.atomic_u64(at).unwrap().load(Ordering::SeqCst);
    let mut tx = Producer::open_in(map.region(), 0).unwrap();
    let mut rx = Consumer::open_in(map.region(), 0).unwrap();
    let mut buf = [0u8; MSG];
    put(ENQUEUE, 4 + 1);
    for wait in [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 16 }] {
        rx.set_wait(wait);
        let err = rx
            .recv_timeout(&mut buf, Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{wait:?}: {err}");
    }
    assert_eq!(get(DEQUEUE), 0, "no slot was skipped");
    for i in 0..4 {
        assert_eq!(get(slot(i)), 2 * i as u64, "slot {i} untouched");
    }
    put(ENQUEUE, 0);
    for i in 0..4u8 {
        tx.try_send(&[i]).unwrap();
    }
    put(DEQUEUE, 4 + 1);
    let err = tx
        .send_timeout(b"late", Duration::from_millis(100))
        .unwrap_err()
        .into_error();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(get(slot(0)), 2, "message 0 still published, not released");
    put(DEQUEUE, 0);
    for i in 0..4u8 {
        assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
        assert_eq!(buf[0], i);
    }
    assert_eq!(rx.try_recv(&mut buf).unwrap(), None);
}
