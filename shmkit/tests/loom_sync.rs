//! loom models of the algorithms in `shmkit::sync` (run with
//! `RUSTFLAGS="--cfg loom" cargo test -p shmkit --test loom_sync --release`).
//!
//! The real structures live in shared memory and wait in the kernel (`FUTEX_WAIT`), which
//! loom cannot see, so these are models of the same protocols with the same orderings: a
//! futex is modelled as "check the word and sleep" made atomic by a mutex, which is what the
//! kernel's hash-bucket lock gives. A lost wake-up shows up as a deadlock, a torn read as a
//! failed assertion.
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

    /// Sleeps if `word == expected` (checked under the queue lock, as the kernel does).
    /// Whether it slept (and so was woken): `false` is the kernel's `EAGAIN`.
    fn wait(&self, expected: u32) -> bool {
        let q = self.queue.lock().unwrap();
        if self.word.load(Ordering::SeqCst) != expected {
            return false;
        }
        drop(self.sleepers.wait(q).unwrap());
        true
    }

    fn wake_all(&self) {
        drop(self.queue.lock().unwrap());
        self.sleepers.notify_all();
    }

    /// `FUTEX_WAKE` of one sleeper: a wake-up given to one waiter only, so that a protocol
    /// that needs a second one (and would lose it) deadlocks here as it would for real.
    fn wake_one(&self) {
        drop(self.queue.lock().unwrap());
        self.sleepers.notify_one();
    }
}

/// The condition variable of `sync::condvar`: sequence counter `seq` (the futex word) and
/// the `waiters` hint, with the same orderings.
struct SeqCondvar {
    seq: Futex,
    waiters: AtomicU32,
}

impl SeqCondvar {
    fn new() -> Self {
        SeqCondvar {
            seq: Futex::new(),
            waiters: AtomicU32::new(0),
        }
    }

    fn wait<'a, T>(
        &self,
        guard: loom::sync::MutexGuard<'a, T>,
        mutex: &'a Mutex<T>,
    ) -> loom::sync::MutexGuard<'a, T> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let seen = self.seq.word.load(Ordering::SeqCst);
        drop(guard);
        self.seq.wait(seen);
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        mutex.lock().unwrap()
    }

    fn notify_all(&self) {
        self.seq.word.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.seq.wake_all();
        }
    }
}

#[test]
fn condvar_never_loses_a_wakeup() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(false), SeqCondvar::new()));
        let waiter = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (m, cv) = &*shared;
                let mut ready = m.lock().unwrap();
                while !*ready {
                    ready = cv.wait(ready, m);
                }
            })
        };
        let (m, cv) = &*shared;
        *m.lock().unwrap() = true;
        cv.notify_all();
        waiter.join().unwrap();
    });
}

#[test]
fn condvar_with_two_waiters_and_a_notification_outside_the_lock() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(0u32), SeqCondvar::new()));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                thread::spawn(move || {
                    let (m, cv) = &*shared;
                    let mut n = m.lock().unwrap();
                    while *n == 0 {
                        n = cv.wait(n, m);
                    }
                })
            })
            .collect();
        let (m, cv) = &*shared;
        *m.lock().unwrap() = 1;
        cv.notify_all();
        for w in waiters {
            w.join().unwrap();
        }
    });
}

/// The seqlock of `sync::seqlock` over a two-word value whose words are always equal: a
/// torn copy has two different words.
struct Seq {
    seq: AtomicU32,
    data: [AtomicU64; 2],
}

impl Seq {
    fn write(&self, v: u64) {
        let s = self.seq.load(Ordering::Relaxed);
        let odd = s | 1;
        self.seq.store(odd, Ordering::Relaxed);
        fence(Ordering::Release);
        for d in &self.data {
            d.store(v, Ordering::Relaxed);
        }
        self.seq.store(odd.wrapping_add(1), Ordering::Release);
    }

    fn try_read(&self) -> Option<[u64; 2]> {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 != 0 {
            return None;
        }
        let v = [
            self.data[0].load(Ordering::Relaxed),
            self.data[1].load(Ordering::Relaxed),
        ];
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != s1 {
            return None;
        }
        Some(v)
    }
}

#[test]
fn seqlock_readers_never_see_a_torn_value() {
    loom::model(|| {
        let s = Arc::new(Seq {
            seq: AtomicU32::new(0),
            data: [AtomicU64::new(0), AtomicU64::new(0)],
        });
        let writer = {
            let s = s.clone();
            thread::spawn(move || {
                s.write(1);
                s.write(2);
            })
        };
        for _ in 0..2 {
            if let Some([a, b]) = s.try_read() {
                assert_eq!(a, b, "torn read");
            }
        }
        writer.join().unwrap();
        assert_eq!(s.try_read(), Some([2, 2]));
    });
}

#[test]
fn a_writer_that_stops_mid_write_leaves_seq_odd_and_the_next_write_repairs_it() {
    loom::model(|| {
        let s = Arc::new(Seq {
            seq: AtomicU32::new(0),
            data: [AtomicU64::new(0), AtomicU64::new(0)],
        });
        // The "dead" writer: makes seq odd, writes half of the value, stops.
        {
            let s = s.clone();
            thread::spawn(move || {
                s.seq.store(1, Ordering::Relaxed);
                fence(Ordering::Release);
                s.data[0].store(7, Ordering::Relaxed);
            })
            .join()
            .unwrap();
        }
        assert_eq!(s.try_read(), None);
        let reader = {
            let s = s.clone();
            thread::spawn(move || {
                if let Some([a, b]) = s.try_read() {
                    assert_eq!(a, b, "torn read");
                    assert_eq!(a, 9);
                }
            })
        };
        s.write(9);
        reader.join().unwrap();
        assert_eq!(s.try_read(), Some([9, 9]));
    });
}

/// The lock word of `sync::robust` (glibc's robust-mutex protocol without the robust list,
/// which only matters when a thread dies): `0` free, the holder's id, `WAITERS` once someone
/// may sleep on it. A locker that slept keeps `WAITERS` in the word it takes (glibc's
/// `assume_other_futex_waiters`), because other sleepers may still be there; the unlock
/// swaps the word to 0 and wakes one sleeper if `WAITERS` was set.
struct LockWord {
    word: Futex,
    /// Threads inside the critical section: never more than one.
    inside: AtomicU32,
}

const WAITERS: u32 = 0x8000_0000;

impl LockWord {
    fn lock(&self, id: u32) {
        let mut assume = 0;
        let mut old = self.word.word.load(Ordering::Relaxed);
        loop {
            if old == 0 {
                match self.word.word.compare_exchange(
                    0,
                    id | assume,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => {
                        old = now;
                        continue;
                    }
                }
            }
            if old & WAITERS == 0 {
                if let Err(now) = self.word.word.compare_exchange(
                    old,
                    old | WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    old = now;
                    continue;
                }
                old |= WAITERS;
            }
            assume = WAITERS;
            self.word.wait(old);
            old = self.word.word.load(Ordering::Relaxed);
        }
    }

    /// A timed lock (`lock_timeout`) whose deadline has passed by the time it wakes from its
    /// first sleep: the unlock's wake-up came late, or it ran late (the worst case for the
    /// wake-up it took). As in `sync::robust`, a woken locker tries the word once before it
    /// looks at its deadline, the deadline is otherwise checked before every sleep (once
    /// `WAITERS` is in the word it leaves, so the holder's unlock wakes a sleeper), and a
    /// locker that gives up owing a wake-up passes it on. Whether it got the lock.
    fn lock_timed(&self, id: u32) -> bool {
        let mut assume = 0;
        let mut old = self.word.word.load(Ordering::Relaxed);
        let (mut expired, mut slept, mut owe_wake, mut turns) = (false, false, false, 0);
        loop {
            if turns > 0 && !slept && expired {
                if owe_wake {
                    self.word.wake_one();
                }
                return false;
            }
            slept = false;
            turns += 1;
            if old == 0 {
                match self.word.word.compare_exchange(
                    0,
                    id | assume,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => {
                        old = now;
                        continue;
                    }
                }
            }
            if old & WAITERS == 0 {
                if let Err(now) = self.word.word.compare_exchange(
                    old,
                    old | WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    old = now;
                    continue;
                }
                old |= WAITERS;
            }
            assume = WAITERS;
            if expired {
                // `WAITERS` is in the word and it has an owner: nothing is owed.
                return false;
            }
            owe_wake = self.word.wait(old);
            slept = true;
            expired = true;
            old = self.word.word.load(Ordering::Relaxed);
        }
    }

    fn unlock(&self) {
        if self.word.word.swap(0, Ordering::Release) & WAITERS != 0 {
            self.word.wake_one();
        }
    }
}

/// Two lockers arrive while the lock is held, so that both may sleep; the holder's unlock
/// wakes one, whose own unlock must wake the other. (Without `assume_other_futex_waiters` the
/// first sleeper to wake would take the word without `WAITERS` and never wake the second:
/// loom reports that deadlock.) Preemptions are bounded to keep the model small.
#[test]
fn robust_lock_word_excludes_and_never_loses_a_wakeup() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let lock = Arc::new(LockWord {
            word: Futex::new(),
            inside: AtomicU32::new(0),
        });
        lock.lock(1);
        let threads: Vec<_> = (2..=3)
            .map(|id| {
                let lock = lock.clone();
                thread::spawn(move || {
                    lock.lock(id);
                    assert_eq!(
                        lock.inside.fetch_add(1, Ordering::Relaxed),
                        0,
                        "two holders"
                    );
                    lock.inside.fetch_sub(1, Ordering::Relaxed);
                    lock.unlock();
                })
            })
            .collect();
        assert_eq!(
            lock.inside.fetch_add(1, Ordering::Relaxed),
            0,
            "two holders"
        );
        lock.inside.fetch_sub(1, Ordering::Relaxed);
        lock.unlock();
        // A deadlock (a sleeper nobody wakes) fails the model.
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(lock.word.word.load(Ordering::Relaxed), 0);
    });
}

/// A timed locker and a plain one (glibc's `pthread_mutex_lock`) wait while the lock is
/// held; the holder unlocks and locks again (a barger). The timed locker's deadline passes
/// while it sleeps: whichever wake-up it takes, it either gets the lock (and its unlock
/// wakes the next) or passes the wake-up on, so the plain locker never sleeps on a free
/// lock. (Checking the deadline first after a wake-up and giving up without passing it on
/// deadlocks here: `sync::robust` did that before.)
#[test]
fn a_timed_lock_woken_after_its_deadline_never_loses_a_wakeup() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let lock = Arc::new(LockWord {
            word: Futex::new(),
            inside: AtomicU32::new(0),
        });
        let enter = |lock: &LockWord| {
            assert_eq!(
                lock.inside.fetch_add(1, Ordering::Relaxed),
                0,
                "two holders"
            );
            lock.inside.fetch_sub(1, Ordering::Relaxed);
            lock.unlock();
        };
        lock.lock(1);
        let timed = {
            let lock = lock.clone();
            thread::spawn(move || {
                if lock.lock_timed(2) {
                    enter(&lock);
                }
            })
        };
        let plain = {
            let lock = lock.clone();
            thread::spawn(move || {
                lock.lock(3);
                enter(&lock);
            })
        };
        lock.unlock();
        lock.lock(1);
        enter(&lock);
        // A deadlock (a sleeper nobody wakes) fails the model.
        timed.join().unwrap();
        plain.join().unwrap();
        assert_eq!(lock.word.word.load(Ordering::Relaxed), 0);
    });
}
