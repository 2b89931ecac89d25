//! loom models of the index protocol of `shmkit::channel::mpmc` (run with
//! `RUSTFLAGS="--cfg loom" cargo test -p shmkit --test loom_mpmc --release`).
//!
//! The models run the shipped protocol steps (`shmkit::channel::__loom::mpmc`, which exists
//! only under `cfg(loom)`): `claim`, `publish`, `take`, `release`, `positions` and `repair`,
//! generic over the atomic word and run here on loom's atomics: Vyukov's per-slot sequence
//! words (`2 * seq + skip`), positions claimed by CAS after the handle wrote its intent,
//! publish and release by CAS, and the repair of a slot a dead peer left claimed. What loom
//! cannot see is modelled around them: the queue's words are loom atomics at the real
//! offsets ([`Cells::word64`]), a message is one word written and read Relaxed (as the
//! byte-wise atomic copies are), and "the process is dead" (the real queue asks
//! `kill(pid, 0)`) is a flag the dying thread clears after its last step. A lost,
//! duplicated or torn message fails an assertion; a slot left blocked for good spins
//! forever, which loom reports.
//!
//! Mutations of the shipped steps these models catch (each run by hand, each made a test
//! here fail): the Release of `publish`'s CAS weakened to Relaxed, the Release of the
//! claim's CAS in `claim` weakened to Relaxed (a live producer's claim repaired as a dead
//! one's), and the first two loads of `positions` swapped (`dequeue` first: a correct
//! queue seen as corrupt).
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use shmkit::channel::__loom::mpmc::{self, Cells, Role};

const CAP: u64 = 2;
const PRODUCER: Role = Role::Producer;
const CONSUMER: Role = Role::Consumer;
/// A slot: the sequence word, the length (u32) and its padding, one message word.
const STRIDE: usize = 24;

struct Queue {
    enqueue: AtomicU64,
    dequeue: AtomicU64,
    seq: Vec<AtomicU64>,
    len: Vec<AtomicU32>,
    data: Vec<AtomicU64>,
    /// Per handle: its role, its table entry's words (`who`, intent), whether it lives.
    role: Vec<Role>,
    table: Vec<[AtomicU64; 2]>,
    alive: Vec<AtomicBool>,
    /// `wake` and `parked` (the models do not park).
    wake: AtomicU32,
}

impl Cells for Queue {
    type W64 = AtomicU64;
    type W32 = AtomicU32;
    fn capacity(&self) -> usize {
        CAP as usize
    }
    fn stride(&self) -> usize {
        STRIDE
    }
    fn word64(&self, at: usize) -> &AtomicU64 {
        match at {
            mpmc::ENQUEUE_AT => &self.enqueue,
            mpmc::DEQUEUE_AT => &self.dequeue,
            _ if at >= mpmc::SLOTS_AT => {
                let (i, field) = (
                    (at - mpmc::SLOTS_AT) / STRIDE,
                    (at - mpmc::SLOTS_AT) % STRIDE,
                );
                match field {
                    0 => &self.seq[i],
                    16 => &self.data[i],
                    _ => panic!("no u64 at slot {i} + {field}"),
                }
            }
            _ => {
                let at = at - mpmc::TABLE_AT;
                &self.table[at / mpmc::ENTRY_SIZE][at % mpmc::ENTRY_SIZE / 8]
            }
        }
    }
    fn word32(&self, at: usize) -> &AtomicU32 {
        match at {
            mpmc::WAKE_AT | mpmc::PARKED_AT => &self.wake,
            _ => {
                let (i, field) = (
                    (at - mpmc::SLOTS_AT) / STRIDE,
                    (at - mpmc::SLOTS_AT) % STRIDE,
                );
                assert_eq!(field, 8);
                &self.len[i]
            }
        }
    }
}

impl Queue {
    fn new(roles: &[Role]) -> Self {
        Queue {
            enqueue: AtomicU64::new(0),
            dequeue: AtomicU64::new(0),
            seq: (0..CAP).map(|i| AtomicU64::new(2 * i)).collect(),
            len: (0..CAP).map(|_| AtomicU32::new(0)).collect(),
            data: (0..CAP).map(|_| AtomicU64::new(0)).collect(),
            role: roles.to_vec(),
            table: roles
                .iter()
                .map(|_| [AtomicU64::new(1), AtomicU64::new(0)])
                .collect(),
            alive: roles.iter().map(|_| AtomicBool::new(true)).collect(),
            wake: AtomicU32::new(0),
        }
    }

    /// Producer::claim: `None` when full.
    fn claim(&self, me: usize) -> Option<u64> {
        mpmc::claim(self, me).expect("a correct queue seen as corrupt")
    }

    /// Loan::write_at + Loan::commit.
    fn publish(&self, pos: u64, value: u64) -> bool {
        self.word64(self.slot(pos) + 16)
            .store(value, Ordering::Relaxed);
        self.len(pos).store(8, Ordering::Relaxed);
        mpmc::publish(self, pos, false).is_ok()
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

    /// Consumer::poll + Received::read_at + Received::finish: claims and reads the next
    /// message, passing over skips.
    fn try_recv(&self, me: usize) -> Option<u64> {
        let c = mpmc::take(self, me, 8).expect("a correct queue seen as corrupt")?;
        assert_eq!(c.len, 8);
        let value = self.word64(self.slot(c.pos) + 16).load(Ordering::Relaxed);
        assert!(
            mpmc::release(self, &c).is_ok(),
            "a live consumer's slot was taken"
        );
        Some(value)
    }

    /// Queue::claimant_alive: the model's liveness flag instead of `kill(pid, 0)`.
    fn claimant_alive(&self, role: Role, pos: u64) -> bool {
        (0..self.role.len()).any(|h| {
            self.role[h] == role
                && self.table[h][1].load(Ordering::Relaxed) == pos + 1
                && self.alive[h].load(Ordering::Relaxed)
        })
    }

    /// Queue::positions: the real queue reports `Corrupt` unless `dequeue <= enqueue <=
    /// dequeue + CAP` holds between its loads, so a correct queue must never fail it.
    fn positions(&self) -> (u64, u64) {
        match mpmc::positions(self) {
            Ok(p) => p,
            Err(bad) => panic!("a correct queue seen as corrupt: {bad:?}"),
        }
    }

    /// Queue::recover: checks the positions, then finishes a dead claimant's operation on
    /// the slot in front of a consumer (at `dequeue`) or a producer (at `enqueue`).
    fn recover(&self, consumer: bool) {
        let alive = |role, pos| self.claimant_alive(role, pos);
        mpmc::repair(self, consumer, alive).expect("a correct queue seen as corrupt");
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
fn queue(roles: &[Role]) -> Arc<Queue> {
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
                let published = q.seq(1).load(Ordering::Acquire) == 2 * 2;
                mpmc::intend(&*q, 2, 1);
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
