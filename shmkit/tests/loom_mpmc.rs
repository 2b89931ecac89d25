//! loom models of the index protocol of `shmkit::channel::mpmc` (run with
//! `RUSTFLAGS="--cfg loom" cargo test -p shmkit --test loom_mpmc --release`).
//!
//! The real queue lives in shared memory and checks liveness with `kill(pid, 0)`, which
//! loom cannot see, so these are models of the same protocol with the same orderings:
//! Vyukov's per-slot sequence words (`2 * seq + skip`), positions claimed by CAS after the
//! handle wrote its intent, publish and release by CAS, and the repair of a slot a dead
//! peer left claimed. A message is one word written and read Relaxed (as the byte-wise
//! atomic copies are); "the process is dead" is a flag the dying thread clears after its
//! last step. A lost, duplicated or torn message fails an assertion; a slot left blocked
//! for good spins forever, which loom reports.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

const CAP: u64 = 2;
const PRODUCER: usize = 0;
const CONSUMER: usize = 1;

struct Queue {
    enqueue: AtomicU64,
    dequeue: AtomicU64,
    seq: Vec<AtomicU64>,
    data: Vec<AtomicU64>,
    /// Per handle: role, intent (position + 1), alive.
    role: Vec<usize>,
    intent: Vec<AtomicU64>,
    alive: Vec<AtomicBool>,
}

impl Queue {
    fn new(roles: &[usize]) -> Self {
        Queue {
            enqueue: AtomicU64::new(0),
            dequeue: AtomicU64::new(0),
            seq: (0..CAP).map(|i| AtomicU64::new(2 * i)).collect(),
            data: (0..CAP).map(|_| AtomicU64::new(0)).collect(),
            role: roles.to_vec(),
            intent: roles.iter().map(|_| AtomicU64::new(0)).collect(),
            alive: roles.iter().map(|_| AtomicBool::new(true)).collect(),
        }
    }

    fn slot(&self, pos: u64) -> usize {
        (pos % CAP) as usize
    }

    /// Producer::claim: `None` when full.
    fn claim(&self, me: usize) -> Option<u64> {
        let mut pos = self.enqueue.load(Ordering::Relaxed);
        loop {
            let word = self.seq[self.slot(pos)].load(Ordering::Acquire);
            let n = word >> 1;
            if n == pos && word & 1 == 0 {
                self.intent[me].store(pos + 1, Ordering::Relaxed);
                match self.enqueue.compare_exchange(
                    pos,
                    pos + 1,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(pos),
                    Err(now) => pos = now,
                }
            } else if n < pos {
                return None;
            } else {
                let now = self.enqueue.load(Ordering::Relaxed);
                assert_ne!(now, pos, "a stale position that does not move");
                pos = now;
            }
        }
    }

    /// Loan::write_at + Loan::commit.
    fn publish(&self, pos: u64, value: u64) -> bool {
        let s = self.slot(pos);
        self.data[s].store(value, Ordering::Relaxed);
        self.seq[s]
            .compare_exchange(2 * pos, 2 * (pos + 1), Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Producer::send; `repair`: run the repair while the queue is full (only the models
    /// with a dying peer need it; it multiplies the interleavings).
    fn send(&self, me: usize, value: u64, repair: bool) {
        loop {
            if let Some(pos) = self.claim(me) {
                assert!(self.publish(pos, value), "a live producer's slot was taken");
                return;
            }
            if repair {
                self.recover(false);
            }
            thread::yield_now();
        }
    }

    /// Consumer::poll: claims and reads the next message, passing over skips.
    fn try_recv(&self, me: usize) -> Option<u64> {
        let mut pos = self.dequeue.load(Ordering::Relaxed);
        loop {
            let s = self.slot(pos);
            let word = self.seq[s].load(Ordering::Acquire);
            let n = word >> 1;
            if n == pos + 1 {
                self.intent[me].store(pos + 1, Ordering::Relaxed);
                match self.dequeue.compare_exchange(
                    pos,
                    pos + 1,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let value = self.data[s].load(Ordering::Relaxed);
                        let released = self.seq[s]
                            .compare_exchange(
                                word,
                                2 * (pos + CAP),
                                Ordering::Release,
                                Ordering::Relaxed,
                            )
                            .is_ok();
                        assert!(released, "a live consumer's slot was taken");
                        if word & 1 == 0 {
                            return Some(value);
                        }
                        pos += 1;
                    }
                    Err(now) => pos = now,
                }
            } else if n < pos + 1 {
                return None;
            } else {
                let now = self.dequeue.load(Ordering::Relaxed);
                assert_ne!(now, pos, "a stale position that does not move");
                pos = now;
            }
        }
    }

    fn claimant_alive(&self, role: usize, pos: u64) -> bool {
        (0..self.role.len()).any(|h| {
            self.role[h] == role
                && self.intent[h].load(Ordering::Relaxed) == pos + 1
                && self.alive[h].load(Ordering::Relaxed)
        })
    }

    /// Queue::positions: `enqueue`, then `dequeue`, then `enqueue` again, all Acquire; the
    /// real queue reports `Corrupt` unless `dequeue <= enqueue <= dequeue + CAP` holds
    /// between them, so a correct queue must never fail it.
    fn positions(&self) -> (u64, u64) {
        let early = self.enqueue.load(Ordering::Acquire);
        let dequeue = self.dequeue.load(Ordering::Acquire);
        let enqueue = self.enqueue.load(Ordering::Acquire);
        assert!(
            early <= dequeue + CAP && dequeue <= enqueue,
            "a correct queue seen as corrupt: enqueue {early} then {enqueue}, dequeue {dequeue}"
        );
        (dequeue, enqueue)
    }

    /// Queue::recover: checks the positions, then finishes a dead claimant's operation on
    /// the slot in front of a consumer (at `dequeue`) or a producer (at `enqueue`).
    fn recover(&self, consumer: bool) {
        let (dequeue, enqueue) = self.positions();
        let pos = if consumer { dequeue } else { enqueue };
        let s = self.slot(pos);
        let word = self.seq[s].load(Ordering::Acquire);
        let n = word >> 1;
        let repaired = if n % CAP == pos % CAP {
            if enqueue <= n || self.claimant_alive(PRODUCER, n) {
                return;
            }
            2 * (n + 1) + 1
        } else {
            let n = n - 1;
            if dequeue <= n || self.claimant_alive(CONSUMER, n) {
                return;
            }
            2 * (n + CAP)
        };
        let _ = self.seq[s].compare_exchange(word, repaired, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Consumer::recv, polling; `repair` as in [`send`](Queue::send).
    fn recv(&self, me: usize, repair: bool) -> u64 {
        loop {
            if let Some(v) = self.try_recv(me) {
                return v;
            }
            if repair {
                self.recover(true);
            }
            thread::yield_now();
        }
    }
}

/// Runs `f` under loom with room for the spinning waits (LOOM_MAX_PREEMPTIONS applies).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.check(f);
}

/// A queue whose positions start at 1 (a message sent and received before the threads
/// start), so that the next two messages take slot 1, then slot 0 on its second lap.
fn queue(roles: &[usize]) -> Arc<Queue> {
    let q = Queue::new(roles);
    let consumer = roles.iter().position(|r| *r == CONSUMER).unwrap();
    q.send(0, 99, false);
    assert_eq!(q.recv(consumer, false), 99);
    Arc::new(q)
}

/// Two producers and one consumer, wrapping the two slots: both messages arrive once,
/// whole.
#[test]
fn mpmc_two_producers_no_loss_duplication_or_tearing() {
    model(|| {
        let q = queue(&[PRODUCER, PRODUCER, CONSUMER]);
        let b = {
            let q = q.clone();
            thread::spawn(move || q.send(1, 21, false))
        };
        let a = {
            let q = q.clone();
            thread::spawn(move || q.send(0, 11, false))
        };
        let mut got = [q.recv(2, false), q.recv(2, false)];
        a.join().unwrap();
        b.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, [11, 21]);
    });
}

/// Two consumers take one message each from one producer: each message goes to exactly
/// one of them.
#[test]
fn mpmc_two_consumers_each_message_once() {
    model(|| {
        let q = queue(&[PRODUCER, CONSUMER, CONSUMER]);
        let c = {
            let q = q.clone();
            thread::spawn(move || q.recv(2, false))
        };
        q.send(0, 7, false);
        q.send(0, 8, false);
        let mine = q.recv(1, false);
        let theirs = c.join().unwrap();
        let mut both = [mine, theirs];
        both.sort_unstable();
        assert_eq!(both, [7, 8]);
    });
}

/// A producer dies after claiming a position and before publishing: the consumer repairs
/// the slot with a skip and receives the live producer's message once.
#[test]
fn mpmc_a_dead_producers_claim_is_skipped() {
    model(|| {
        let q = queue(&[PRODUCER, PRODUCER, CONSUMER]);
        let dying = {
            let q = q.clone();
            thread::spawn(move || {
                // Claims a position, then is killed before it publishes.
                assert!(q.claim(1).is_some());
                q.alive[1].store(false, Ordering::Relaxed);
            })
        };
        let live = {
            let q = q.clone();
            thread::spawn(move || q.send(0, 5, true))
        };
        assert_eq!(q.recv(2, true), 5);
        dying.join().unwrap();
        live.join().unwrap();
        assert_eq!(q.try_recv(2), None);
    });
}

/// A consumer dies holding a message: the producer that needs the slot for the next lap
/// frees it; the next message arrives once.
#[test]
fn mpmc_a_dead_consumers_slot_is_freed() {
    model(|| {
        let q = queue(&[PRODUCER, CONSUMER, CONSUMER]);
        q.send(0, 1, false); // position 1, slot 1
        q.send(0, 2, false); // position 2, slot 0
        let dying = {
            let q = q.clone();
            thread::spawn(move || {
                // A claim of position 1 without the release (Consumer::poll up to its CAS).
                let published = q.seq[1].load(Ordering::Acquire) == 2 * 2;
                q.intent[2].store(2, Ordering::Relaxed);
                let claimed = published
                    && q.dequeue
                        .compare_exchange(1, 2, Ordering::Release, Ordering::Relaxed)
                        .is_ok();
                q.alive[2].store(false, Ordering::Relaxed);
                claimed
            })
        };
        let got = q.recv(1, false);
        // Position 3 needs slot 1, which the dying consumer may hold.
        q.send(0, 3, true);
        let claimed = dying.join().unwrap();
        assert_eq!(got, if claimed { 2 } else { 1 });
        let rest: Vec<u64> = (0..if claimed { 1 } else { 2 })
            .map(|_| q.recv(1, false))
            .collect();
        assert_eq!(rest, if claimed { vec![3] } else { vec![2, 3] });
    });
}

/// The positions check never reports a correct queue as corrupt: an observer reads the
/// positions (in Queue::positions's order) while a producer laps the two slots and a
/// consumer follows. (Reading `dequeue` first would fail here: the producer can go a lap
/// and more ahead of a stale `dequeue`.)
#[test]
fn mpmc_positions_of_a_correct_queue_are_within_a_lap() {
    model(|| {
        let q = queue(&[PRODUCER, CONSUMER]);
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                for v in 1..=3 {
                    q.send(0, v, false);
                }
            })
        };
        let consumer = {
            let q = q.clone();
            thread::spawn(move || {
                for v in 1..=3 {
                    assert_eq!(q.recv(1, false), v);
                }
            })
        };
        // Let the others start (loom does not preempt this thread before its first loads
        // otherwise), then look while they run.
        thread::yield_now();
        q.positions();
        producer.join().unwrap();
        consumer.join().unwrap();
        assert_eq!(q.positions(), (4, 4));
    });
}
