//! loom models of the index and parking protocols of `shmkit::channel::spsc` and of an
//! endpoint's pid slot (run with
//! `RUSTFLAGS="--cfg loom" cargo test -p shmkit --test loom_channel --release`).
//!
//! The models run the shipped protocol steps (`shmkit::channel::__loom`, which exists only
//! under `cfg(loom)`): `spsc::{reserve, room, commit, poll, release, check_indices}`,
//! `wait::{announce, bump, unannounce}` and `endpoint::{claim, release}`, generic over the
//! atomic word and run here on loom's atomics. What loom cannot see is modelled around
//! them: the channel's words are loom atomics laid out at the real offsets
//! ([`Ring::word`]), a message's bytes are one word written and read Relaxed (as the
//! byte-wise atomic copies are), and a futex is "check the word and sleep" made atomic by
//! a mutex (the kernel's hash-bucket lock). A lost message or a torn one fails an
//! assertion; a lost wake-up is a deadlock.
//!
//! Mutations of the shipped steps these models catch (each run by hand, each made a test
//! here fail): the Release of the stamp store in `spsc::commit` weakened to Relaxed (a
//! torn message), the SeqCst fence in `wait::bump` or in `wait::announce` weakened to
//! AcqRel (a lost wake-up: deadlock), the clear-ahead store in `spsc::commit` removed (a
//! stale word taken for a record), and the Release of `endpoint::release` weakened to
//! Relaxed (a lost update between two holders).
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use shmkit::channel::__loom::endpoint::{self, Refused};
use shmkit::channel::__loom::spsc::{self, Ring};
use shmkit::channel::__loom::wait;

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

/// A ring of 128 bytes (the steps do not check the capacity's lower bound; the real
/// minimum only makes the model bigger). A message of 8 bytes takes a 32-byte record
/// (16-byte header, 16 for the message), and the sender keeps 16 bytes free for clearing
/// ahead, so three records fit.
const CAP: usize = 128;
const LEN: usize = 8;

struct Channel {
    tail: AtomicU64,
    head: AtomicU64,
    /// The ring's u64 words.
    ring: Vec<AtomicU64>,
    parked: AtomicU32,
    wake: Futex,
}

impl Ring for Channel {
    type Word = AtomicU64;
    fn capacity(&self) -> usize {
        CAP
    }
    fn word(&self, at: usize) -> &AtomicU64 {
        match at {
            spsc::TAIL_AT => &self.tail,
            spsc::HEAD_AT => &self.head,
            _ => &self.ring[(at - spsc::RING_AT) / 8],
        }
    }
}

impl Channel {
    fn new() -> Self {
        Channel {
            tail: AtomicU64::new(0),
            head: AtomicU64::new(0),
            ring: (0..CAP / 8).map(|_| AtomicU64::new(0)).collect(),
            parked: AtomicU32::new(0),
            wake: Futex::new(),
        }
    }

    /// The word that holds the message of the record at ring position `record`.
    fn payload(&self, record: usize) -> &AtomicU64 {
        self.word(spsc::RING_AT + record + 16)
    }

    /// Sender::loan + Loan::write_at + Loan::commit (+ wait::notify) for a message of
    /// `len` bytes whose first word is `value`; false when full.
    fn try_send(&self, tail: &mut u64, head_cache: &mut u64, len: usize, value: u64) -> bool {
        let r = spsc::reserve(CAP, *tail, len);
        match spsc::room(self, *tail, r.new_tail, head_cache) {
            Ok(true) => {}
            Ok(false) => return false,
            Err(head) => panic!("a correct receiver's head {head} seen as out of range"),
        }
        if len > 0 {
            self.payload(r.record).store(value, Ordering::Relaxed);
        }
        spsc::commit(self, &r, len);
        *tail = r.new_tail;
        if wait::bump(&self.parked, &self.wake.word) {
            self.wake.wake_one();
        }
        true
    }

    /// Receiver::poll + Received::read_at + Received::drop; on an empty ring also the
    /// index check the real receiver makes before it parks (a correct sender must never
    /// fail it).
    fn try_recv(&self, head: &mut u64) -> Option<(usize, u64)> {
        match spsc::poll(self, head) {
            Err((at, word)) => panic!("a correct sender's record at {at} seen as {word:#x}"),
            Ok(None) => {
                let check = spsc::check_indices(self, *head);
                assert!(check.is_ok(), "indices seen as corrupt: {check:?}");
                None
            }
            Ok(Some(found)) => {
                let value = if found.len > 0 {
                    self.payload(found.record).load(Ordering::Relaxed)
                } else {
                    0
                };
                *head = found.next;
                spsc::release(self, found.next);
                Some((found.len, value))
            }
        }
    }

    /// Blocking receive: announce, look again, sleep (wait::announce / sleep / unannounce).
    fn recv_blocking(&self, head: &mut u64) -> u64 {
        loop {
            if let Some((_, v)) = self.try_recv(head) {
                return v;
            }
            let seen = wait::announce(&self.parked, &self.wake.word);
            if let Some((_, v)) = self.try_recv(head) {
                wait::unannounce(&self.parked);
                return v;
            }
            self.wake.wait(seen);
            wait::unannounce(&self.parked);
        }
    }
}

/// Stream positions of the model below: an empty message (16 bytes) sent and received
/// before the threads start, then messages at 16, 48 and 80, and the fourth after a
/// padding record at 112, wrapping to 128 (ring position 0).
///
/// The first message's bytes are 161, the stamp a record at stream position 160 would
/// carry; they sit where the stamp word of position 160 is (ring position 32). Only the
/// clear-ahead of the fourth commit zeroes it, so without it the final look takes the
/// stale word for a record.
const VALUES: [u64; 4] = [161, 2, 3, 4];

fn started() -> (Arc<Channel>, u64, u64) {
    let ch = Channel::new();
    let (mut tail, mut head_cache, mut head) = (0, 0, 0);
    assert!(ch.try_send(&mut tail, &mut head_cache, 0, 0));
    assert_eq!(ch.try_recv(&mut head), Some((0, 0)));
    (Arc::new(ch), tail, head)
}

/// Four messages through a ring that holds three (and the clear-ahead space), wrapping
/// with a padding record: each arrives once, in order, whole; a stale stamp word from the
/// previous lap is never taken for a record, and the sender never overwrites a record the
/// receiver has not released.
#[test]
fn spsc_ring_no_loss_duplication_or_tearing() {
    loom::model(|| {
        let (ch, tail, mut head) = started();
        let tx = ch.clone();
        let producer = thread::spawn(move || {
            let (mut tail, mut head_cache) = (tail, tail);
            for v in VALUES {
                while !tx.try_send(&mut tail, &mut head_cache, LEN, v) {
                    thread::yield_now();
                }
            }
        });
        for v in VALUES {
            let got = loop {
                if let Some(got) = ch.try_recv(&mut head) {
                    break got;
                }
                thread::yield_now();
            };
            assert_eq!(got, (LEN, v));
        }
        producer.join().unwrap();
        assert_eq!(head, 160);
        assert_eq!(
            ch.try_recv(&mut head),
            None,
            "nothing after the last message"
        );
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
                assert!(tx.try_send(&mut tail, &mut head_cache, LEN, v));
            }
        });
        let mut head = 0;
        assert_eq!(ch.recv_blocking(&mut head), 1);
        assert_eq!(ch.recv_blocking(&mut head), 2);
        producer.join().unwrap();
    });
}

/// Two processes claim one endpoint slot (as two senders opening one channel): one at a
/// time holds it, and each holder sees what the previous one wrote before it let go
/// (`endpoint::release`'s Release, `endpoint::claim`'s Acquire): no update is lost.
#[test]
fn endpoint_claim_is_exclusive_and_hands_over() {
    loom::model(|| {
        let slot = Arc::new(AtomicU32::new(0));
        let index = Arc::new(AtomicU64::new(0));
        let holders: Vec<_> = [101u32, 102]
            .into_iter()
            .map(|pid| {
                let (slot, index) = (slot.clone(), index.clone());
                thread::spawn(move || {
                    loop {
                        match endpoint::claim(&*slot, pid, |_| false) {
                            Ok(()) => break,
                            Err(Refused::Held(other)) => assert_ne!(other, pid),
                            Err(Refused::Changing) => {}
                        }
                        thread::yield_now();
                    }
                    // The holder's index stores (Relaxed, as the channels' are).
                    let seen = index.load(Ordering::Relaxed);
                    index.store(seen + 1, Ordering::Relaxed);
                    endpoint::release(&*slot, pid);
                })
            })
            .collect();
        for h in holders {
            h.join().unwrap();
        }
        assert_eq!(index.load(Ordering::Relaxed), 2, "an update was lost");
        assert_eq!(slot.load(Ordering::Relaxed), 0);
    });
}

/// A slot left by a dead process (pid 7) is taken over; a live holder's is refused.
#[test]
fn endpoint_claim_takes_over_a_dead_holder_only() {
    loom::model(|| {
        let slot = AtomicU32::new(7);
        assert_eq!(
            endpoint::claim(&slot, 101, |_| false),
            Err(Refused::Held(7))
        );
        assert_eq!(endpoint::claim(&slot, 101, |pid| pid == 7), Ok(()));
        assert_eq!(slot.load(Ordering::Relaxed), 101);
        endpoint::release(&slot, 7);
        assert_eq!(
            slot.load(Ordering::Relaxed),
            101,
            "release frees only its own pid"
        );
    });
}
