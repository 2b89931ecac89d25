//! loom models of the slot-stamp and wake-up protocols of `shmkit::channel::pubsub` (run
//! with `RUSTFLAGS="--cfg loom" cargo test -p shmkit --test loom_pubsub --release`).
//!
//! The real channel lives in shared memory and sleeps in the kernel (`FUTEX_WAIT`), which
//! loom cannot see, so these are models of the same protocols with the same orderings: a
//! slot is a stamp word and two payload words written and read Relaxed (as the byte-wise
//! atomic copies are), the futex is "compare the word and sleep" made atomic by a mutex (the
//! kernel's hash-bucket lock). A torn message delivered, a message neither received nor
//! counted lost, or one counted twice fails an assertion; a lost wake-up is a deadlock.
#![cfg(loom)]

use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

const SLOTS: u64 = 2;

/// One slot: the stamp (`2 seq + 1` while written, `2 seq + 2` committed) and a message of
/// two words, both `seq + 1`, so that a mix of two messages is visible.
struct Slot {
    stamp: AtomicU64,
    words: [AtomicU64; 2],
}

struct Channel {
    slots: Vec<Slot>,
    head: AtomicU64,
    parked: AtomicU64,
    always: bool,
    wake: AtomicU32,
    /// The kernel's futex bucket: sleepers queue here; the word is compared under it.
    bucket: (Mutex<()>, Condvar),
}

/// What one receive attempt saw.
enum Got {
    Nothing,
    Message(u64),
    Lost(u64),
}

impl Channel {
    fn new(always: bool) -> Self {
        let slot = || Slot {
            stamp: AtomicU64::new(0),
            words: [AtomicU64::new(0), AtomicU64::new(0)],
        };
        Channel {
            slots: (0..SLOTS).map(|_| slot()).collect(),
            head: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            always,
            wake: AtomicU32::new(0),
            bucket: (Mutex::new(()), Condvar::new()),
        }
    }

    fn slot(&self, seq: u64) -> &Slot {
        &self.slots[(seq % SLOTS) as usize]
    }

    /// Publisher::loan + Loan::write_at + Loan::commit + notify.
    fn publish(&self, seq: u64) {
        let s = self.slot(seq);
        s.stamp.store(2 * seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for w in &s.words {
            w.store(seq + 1, Ordering::Relaxed);
        }
        s.stamp.store(2 * seq + 2, Ordering::Release);
        self.head.store(seq + 1, Ordering::Release);
        fence(Ordering::SeqCst);
        if self.always || self.parked.load(Ordering::Relaxed) != 0 {
            self.wake.fetch_add(1, Ordering::Release);
            drop(self.bucket.0.lock().unwrap());
            self.bucket.1.notify_all();
        }
    }

    /// Subscriber::check's test of the cursor against head (Corrupt when it fails): a
    /// correct publisher must never fail it.
    fn check_cursor(&self, cursor: u64) {
        let head = self.head.load(Ordering::Acquire);
        assert!(cursor <= head + 1, "cursor {cursor} past head {head} + 1");
    }

    /// Subscriber::poll + Sample::copy_into + Sample::check, from `cursor`.
    fn try_recv(&self, cursor: &mut u64) -> Got {
        let c = *cursor;
        let s = self.slot(c);
        let stamp = s.stamp.load(Ordering::Acquire);
        if stamp < 2 * c + 2 {
            return Got::Nothing;
        }
        if stamp > 2 * c + 2 {
            let m = (stamp - 1) / 2;
            assert_eq!(m % SLOTS, c % SLOTS, "a slot holds only its own messages");
            let head = self.head.load(Ordering::Acquire);
            // Subscriber::poll reports Corrupt for a stamp past head: a correct publisher
            // must never show one.
            assert!(m <= head, "stamp of message {m} seen with head {head}");
            let to = head + 1 - SLOTS;
            assert!(to > c);
            *cursor = to;
            return Got::Lost(to - c);
        }
        let copy = [
            s.words[0].load(Ordering::Relaxed),
            s.words[1].load(Ordering::Relaxed),
        ];
        fence(Ordering::Acquire);
        *cursor = c + 1;
        if s.stamp.load(Ordering::Relaxed) != stamp {
            return Got::Lost(1);
        }
        assert_eq!(copy, [c + 1, c + 1], "message {c} delivered torn");
        Got::Message(c)
    }

    /// Subscriber::park: announce (the parked bit), fence, look again, sleep on `wake`.
    fn recv_blocking(&self, cursor: &mut u64) -> Got {
        loop {
            let got = self.try_recv(cursor);
            if !matches!(got, Got::Nothing) {
                return got;
            }
            if !self.always {
                self.parked.fetch_or(1, Ordering::Relaxed);
            }
            fence(Ordering::SeqCst);
            let seen = self.wake.load(Ordering::Acquire);
            let got = self.try_recv(cursor);
            if matches!(got, Got::Nothing) {
                let queued = self.bucket.0.lock().unwrap();
                if self.wake.load(Ordering::SeqCst) == seen {
                    drop(self.bucket.1.wait(queued).unwrap());
                }
            }
            self.parked.fetch_and(!1, Ordering::Relaxed);
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
