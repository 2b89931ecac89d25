//! loom models of the index and parking protocols of `shmkit::channel::spsc` (run with
//! `RUSTFLAGS="--cfg loom" cargo test -p shmkit --test loom_channel --release`).
//!
//! The real channel lives in shared memory and parks in the kernel (`FUTEX_WAIT`), which
//! loom cannot see, so these are models of the same protocols with the same orderings
//! (stamped records, clear-ahead, cached head): the ring's bytes are words written and
//! read Relaxed (as the byte-wise atomic copies are), a
//! futex is "check the word and sleep" made atomic by a mutex (the kernel's hash-bucket
//! lock). A lost message or a torn one fails an assertion; a lost wake-up is a deadlock.
#![cfg(loom)]

use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// FUTEX_WAIT / FUTEX_WAKE on a word.
struct Futex {
    word: AtomicU32,
    queue: Mutex<()>,
    sleepers: Condvar,
}

impl Futex {
    fn new() -> Self {
        Futex {
            word: AtomicU32::new(0),
            queue: Mutex::new(()),
            sleepers: Condvar::new(),
        }
    }

    fn wait(&self, expected: u32) {
        let q = self.queue.lock().unwrap();
        if self.word.load(Ordering::SeqCst) != expected {
            return;
        }
        drop(self.sleepers.wait(q).unwrap());
    }

    fn wake_one(&self) {
        drop(self.queue.lock().unwrap());
        self.sleepers.notify_one();
    }
}

/// Ring of `CAP` words; a record is two words: the stamp (stream position + 1, written
/// last with Release) and one payload word. The sender keeps `CLEAR` words free after its
/// last record and zeroes the next stamp before publishing ("clear ahead").
const CAP: u64 = 6;
const REC: u64 = 2;
const CLEAR: u64 = 2;

struct Channel {
    tail: AtomicU64,
    head: AtomicU64,
    ring: Vec<AtomicU64>,
    parked: AtomicU32,
    wake: Futex,
}

impl Channel {
    fn new() -> Self {
        Channel {
            tail: AtomicU64::new(0),
            head: AtomicU64::new(0),
            ring: (0..CAP).map(|_| AtomicU64::new(0)).collect(),
            parked: AtomicU32::new(0),
            wake: Futex::new(),
        }
    }

    fn at(&self, pos: u64) -> &AtomicU64 {
        &self.ring[(pos % CAP) as usize]
    }

    /// Sender::loan + Loan::commit for one word, with the cached head; false when full.
    fn try_send(&self, tail: &mut u64, head_cache: &mut u64, value: u64) -> bool {
        if *tail + REC + CLEAR - *head_cache > CAP {
            // Acquire: pairs with the receiver's Release store of head.
            *head_cache = self.head.load(Ordering::Acquire);
            assert!(*head_cache <= *tail);
            if *tail + REC + CLEAR - *head_cache > CAP {
                return false;
            }
        }
        let start = *tail;
        self.at(start + REC).store(0, Ordering::Relaxed); // clear ahead
        self.at(start + 1).store(value, Ordering::Relaxed);
        // Release: the commit; pairs with the receiver's Acquire load of the stamp.
        self.at(start).store(start + 1, Ordering::Release);
        *tail += REC;
        self.tail.store(*tail, Ordering::Release);
        // wait::notify
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) != 0 {
            self.wake.word.fetch_add(1, Ordering::Release);
            self.wake.wake_one();
        }
        true
    }

    /// Receiver::check_indices (Corrupt when it fails), run by the real receiver before it
    /// parks: a correct sender must never fail it.
    fn check_indices(&self, head: u64) {
        assert_eq!(self.head.load(Ordering::Relaxed), head);
        let tail = self.tail.load(Ordering::Relaxed);
        assert!(
            tail <= head + CAP && head <= tail + CAP,
            "tail {tail}, head {head}"
        );
    }

    /// Receiver::poll + Received::drop.
    fn try_recv(&self, head: &mut u64) -> Option<u64> {
        if self.at(*head).load(Ordering::Acquire) != *head + 1 {
            self.check_indices(*head);
            return None;
        }
        let value = self.at(*head + 1).load(Ordering::Relaxed);
        *head += REC;
        self.head.store(*head, Ordering::Release);
        Some(value)
    }

    /// Blocking receive: announce, re-check, sleep (wait::announce / sleep / unannounce).
    fn recv_blocking(&self, head: &mut u64) -> u64 {
        loop {
            if let Some(v) = self.try_recv(head) {
                return v;
            }
            self.parked.store(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            let seen = self.wake.word.load(Ordering::Acquire);
            if let Some(v) = self.try_recv(head) {
                self.parked.store(0, Ordering::Relaxed);
                return v;
            }
            self.wake.wait(seen);
            self.parked.store(0, Ordering::Relaxed);
        }
    }
}

/// Four messages through a ring that holds two (and the clear-ahead space), wrapping: each
/// arrives once, in order, whole; a stale stamp from the previous lap is never taken for a
/// record, and the sender never overwrites a record the receiver has not released.
#[test]
fn spsc_ring_no_loss_duplication_or_tearing() {
    loom::model(|| {
        let ch = Arc::new(Channel::new());
        let tx = ch.clone();
        let producer = thread::spawn(move || {
            let (mut tail, mut head_cache) = (0, 0);
            for v in 1..=4u64 {
                while !tx.try_send(&mut tail, &mut head_cache, v * 100) {
                    thread::yield_now();
                }
            }
        });
        let mut head = 0;
        for v in 1..=4u64 {
            let got = loop {
                if let Some(got) = ch.try_recv(&mut head) {
                    break got;
                }
                thread::yield_now();
            };
            assert_eq!(got, v * 100);
        }
        producer.join().unwrap();
    });
}

/// A receiver that parks is always woken by the send that follows: no lost wake-up (a
/// lost one deadlocks the model).
#[test]
fn spsc_parking_never_loses_a_wake_up() {
    loom::model(|| {
        let ch = Arc::new(Channel::new());
        let tx = ch.clone();
        let producer = thread::spawn(move || {
            let (mut tail, mut head_cache) = (0, 0);
            for v in 1..=2u64 {
                assert!(tx.try_send(&mut tail, &mut head_cache, v));
            }
        });
        let mut head = 0;
        assert_eq!(ch.recv_blocking(&mut head), 1);
        assert_eq!(ch.recv_blocking(&mut head), 2);
        producer.join().unwrap();
    });
}
