//! loom models of the slot-stamp and wake-up protocols of `shmkit::channel::pubsub` (run
//! with `RUSTFLAGS="--cfg loom" cargo test -p shmkit --test loom_pubsub --release`).
//!
//! The models run the shipped protocol steps (`shmkit::channel::__loom::pubsub`, which
//! exists only under `cfg(loom)`): `begin`, `commit` and `bump` for the publisher, `look`,
//! `intact`, `check_cursor`, `announce` and `unannounce` for a subscriber, generic over the
//! atomic word and run here on loom's atomics. What loom cannot see is modelled around
//! them: the channel's words are loom atomics at the real offsets ([`Slots::word64`]), a
//! message is two words written and read Relaxed (as the byte-wise atomic copies are),
//! both `seq + 1` so that a mix of two messages is visible, and the futex is "compare the
//! word and sleep" made atomic by a mutex (the kernel's hash-bucket lock). A torn message
//! delivered, a message neither received nor counted lost, or one counted twice fails an
//! assertion; a lost wake-up is a deadlock.
//!
//! Mutations of the shipped steps these models catch (each run by hand, each made a test
//! here fail): the Release fence in `begin` or the Acquire fence in `intact` removed (a
//! torn message delivered), the SeqCst fence in `bump` or in `announce` weakened to AcqRel
//! (a lost wake-up: deadlock).
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use shmkit::channel::__loom::pubsub::{self, Look, Slots};

const SLOTS: u64 = 2;
/// A slot: stamp, length, and a message of two words.
const STRIDE: usize = 32;

struct Channel {
    head: AtomicU64,
    parked: AtomicU64,
    wake: AtomicU32,
    /// The slots' words.
    words: Vec<AtomicU64>,
    always: bool,
    /// The kernel's futex bucket: sleepers queue here; the word is compared under it.
    bucket: (Mutex<()>, Condvar),
}

impl Slots for Channel {
    type W64 = AtomicU64;
    type W32 = AtomicU32;
    fn slots(&self) -> usize {
        SLOTS as usize
    }
    fn slot_size(&self) -> usize {
        16
    }
    fn stride(&self) -> usize {
        STRIDE
    }
    fn word64(&self, at: usize) -> &AtomicU64 {
        match at {
            pubsub::HEAD_AT => &self.head,
            pubsub::PARKED_AT => &self.parked,
            _ => &self.words[(at - pubsub::SLOTS_AT) / 8],
        }
    }
    fn word32(&self, at: usize) -> &AtomicU32 {
        assert_eq!(at, pubsub::WAKE_AT);
        &self.wake
    }
}

/// What one receive attempt saw.
enum Got {
    Nothing,
    Message(u64),
    Lost(u64),
}

impl Channel {
    fn new(always: bool) -> Self {
        Channel {
            head: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            wake: AtomicU32::new(0),
            words: (0..SLOTS as usize * STRIDE / 8)
                .map(|_| AtomicU64::new(0))
                .collect(),
            always,
            bucket: (Mutex::new(()), Condvar::new()),
        }
    }

    /// The two message words of the slot at `slot`.
    fn message(&self, slot: usize) -> [&AtomicU64; 2] {
        [self.word64(slot + 16), self.word64(slot + 24)]
    }

    /// Publisher::loan + Loan::write_at + Loan::commit + notify.
    fn publish(&self, seq: u64) {
        let slot = pubsub::begin(self, seq);
        for w in self.message(slot) {
            w.store(seq + 1, Ordering::Relaxed);
        }
        pubsub::commit(self, slot, seq, 16);
        if pubsub::bump(self, self.always).is_some() {
            drop(self.bucket.0.lock().unwrap());
            self.bucket.1.notify_all();
        }
    }

    /// Subscriber::check's test of the cursor against head (Corrupt when it fails): a
    /// correct publisher must never fail it.
    fn check_cursor(&self, cursor: u64) {
        let check = pubsub::check_cursor(self, cursor);
        assert!(check.is_ok(), "cursor {cursor} past head + 1: {check:?}");
    }

    /// Subscriber::poll + Sample::copy_into + Sample::check, from `cursor`.
    fn try_recv(&self, cursor: &mut u64) -> Got {
        let c = *cursor;
        match pubsub::look(self, c) {
            Look::Nothing => Got::Nothing,
            Look::Lapped { to } => {
                assert!(to > c);
                *cursor = to;
                Got::Lost(to - c)
            }
            Look::Found(found) => {
                assert_eq!(found.len, 16);
                let [a, b] = self.message(found.slot);
                let copy = [a.load(Ordering::Relaxed), b.load(Ordering::Relaxed)];
                *cursor = c + 1;
                if !pubsub::intact(self, &found) {
                    return Got::Lost(1);
                }
                assert_eq!(copy, [c + 1, c + 1], "message {c} delivered torn");
                Got::Message(c)
            }
            other => panic!("a correct publisher's slot seen as {other:?}"),
        }
    }

    /// Subscriber::park: announce (the parked bit), look again, sleep on `wake`.
    fn recv_blocking(&self, cursor: &mut u64) -> Got {
        let bit = (!self.always).then_some(1);
        loop {
            let got = self.try_recv(cursor);
            if !matches!(got, Got::Nothing) {
                return got;
            }
            let seen = pubsub::announce(self, bit);
            let got = self.try_recv(cursor);
            if matches!(got, Got::Nothing) {
                let queued = self.bucket.0.lock().unwrap();
                if self.wake.load(Ordering::SeqCst) == seen {
                    drop(self.bucket.1.wait(queued).unwrap());
                }
            }
            pubsub::unannounce(self, bit);
            if !matches!(got, Got::Nothing) {
                return got;
            }
        }
    }
}

/// Tallies what a subscriber saw: messages in increasing order, every one accounted for.
#[derive(Default)]
struct Tally {
    received: u64,
    lost: u64,
    last: Option<u64>,
}

impl Tally {
    fn add(&mut self, got: Got) {
        match got {
            Got::Nothing => {}
            Got::Lost(n) => self.lost += n,
            Got::Message(seq) => {
                assert!(
                    self.last.is_none_or(|l| seq > l),
                    "message {seq} out of order"
                );
                self.last = Some(seq);
                self.received += 1;
            }
        }
    }
}

/// Four messages through two slots while a subscriber polls three times: the publisher laps it, it
/// never delivers a torn message, and received + lost == published.
#[test]
fn pubsub_stamps_no_tearing_and_every_message_accounted_for() {
    loom::model(|| {
        const N: u64 = 4;
        let ch = Arc::new(Channel::new(false));
        let tx = ch.clone();
        let publisher = thread::spawn(move || {
            for seq in 0..N {
                tx.publish(seq);
            }
        });
        let (mut cursor, mut tally) = (0, Tally::default());
        for _ in 0..3 {
            tally.add(ch.try_recv(&mut cursor));
            ch.check_cursor(cursor);
        }
        publisher.join().unwrap();
        while cursor < N {
            tally.add(ch.try_recv(&mut cursor));
        }
        assert_eq!(cursor, N);
        assert_eq!(tally.received + tally.lost, N);
        assert_eq!(
            tally.last,
            Some(N - 1),
            "the newest message is never lost at rest"
        );
    });
}

/// A subscriber that blocks is always woken by the publish that follows, under both
/// policies (parked bit, always wake): no lost wake-up (a lost one deadlocks the model).
#[test]
fn pubsub_parking_never_loses_a_wake_up() {
    for always in [false, true] {
        loom::model(move || {
            let ch = Arc::new(Channel::new(always));
            let tx = ch.clone();
            let publisher = thread::spawn(move || tx.publish(0));
            let mut cursor = 0;
            assert!(matches!(ch.recv_blocking(&mut cursor), Got::Message(0)));
            publisher.join().unwrap();
        });
    }
}
