//! [`Condvar`] and [`Event`]: waiting on a futex sequence counter in a segment.
//!
//! Layout (offsets from the structure's start, which is 64-byte aligned):
//!
//! | offset | size | field                                                          |
//! |-------:|-----:|----------------------------------------------------------------|
//! | 0      | 64   | header (magic `shmkCOND` or `shmkEVNT`)                        |
//! | 64     | 4    | `seq`: the futex word, incremented by every notification       |
//! | 68     | 4    | `waiters`: a hint, how many may be sleeping (see below)        |
//! | 72     | 56   | padding to 128                                                 |
//!
//! The algorithm (the "sequence counter" condition variable, as in Rust's std futex
//! `Condvar` and Drepper's "Futexes Are Tricky", shared instead of private):
//! a waiter reads `seq` while it still holds the mutex, unlocks, and sleeps in
//! `FUTEX_WAIT(seq, seen)`; a notifier increments `seq` and calls `FUTEX_WAKE`. The kernel
//! compares `seq` with `seen` under its wait-queue lock, so a notification between the
//! unlock and the sleep makes `FUTEX_WAIT` return at once: no wake-up is lost.
//!
//! Waiters keep no state in the segment other than the `waiters` hint, so killing one at any
//! point breaks nothing: the kernel drops a dead task from the futex queue. The hint only
//! lets a notifier skip the system call when no one waits; a waiter killed between its
//! increment and decrement leaves it too high forever, which costs later notifications a
//! `FUTEX_WAKE` each and nothing else. (A peer that scribbles it to zero can make
//! notifications skip the wake-up: a hostile peer can always stop notifying, too.)
//!
//! `notify_one` wakes one sleeping waiter; if that waiter is killed before it returns, the
//! notification is lost with it. Use `notify_all` where waiters may die.

use super::mutex::{LockError, MutexGuard};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::header::{self, Layout, HEADER_SIZE};
use crate::layout::ShmSafe;
use crate::region::{ReadWrite, Region};
use crate::sys::{futex, EAGAIN, EINTR, ETIMEDOUT};
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const SEQ: usize = HEADER_SIZE;
const WAITERS: usize = HEADER_SIZE + 4;
const SIZE: usize = 128;

/// The part `Condvar` and `Event` share: a sequence counter and a waiter hint.
struct Counter<R> {
    region: R,
    offset: usize,
}

impl<R: Deref<Target = Region<ReadWrite>>> Counter<R> {
    fn layout(what: &'static str, magic: [u8; 8]) -> Layout {
        Layout {
            what,
            magic,
            size: SIZE,
            payload_size: 0,
            payload_align: 0,
            lock_size: 0,
        }
    }

    fn create(region: R, offset: usize, layout: &Layout, call: &'static str) -> Result<Self> {
        header::begin_create(&region, offset, layout, call)?;
        let this = Counter { region, offset };
        this.seq().store(0, Ordering::Relaxed);
        this.waiters().store(0, Ordering::Relaxed);
        header::finish_create(&this.region, offset)?;
        Ok(this)
    }

    fn open(region: R, offset: usize, layout: &Layout, call: &'static str) -> Result<Self> {
        header::open(&region, offset, layout, call)?;
        Ok(Counter { region, offset })
    }

    fn seq(&self) -> &AtomicU32 {
        // SAFETY: create/open checked that the 128-byte structure lies inside the region at
        // a 64-byte-aligned address, so this word is in bounds and aligned.
        unsafe { self.region.atomic_u32_unchecked(self.offset + SEQ) }
    }

    fn waiters(&self) -> &AtomicU32 {
        // SAFETY: as in `seq`.
        unsafe { self.region.atomic_u32_unchecked(self.offset + WAITERS) }
    }

    fn context(&self) -> String {
        format!("offset={}", self.offset)
    }

    fn notify(&self, count: i32) -> Result<()> {
        // SeqCst on both sides of a Dekker pattern with `begin_wait`: the waiter increments
        // `waiters` then loads `seq`; we increment `seq` then load `waiters`. Either we see
        // the waiter (and wake it), or its load of `seq` sees our increment (and its
        // FUTEX_WAIT returns at once, or it never sleeps).
        self.seq().fetch_add(1, Ordering::SeqCst);
        if self.waiters().load(Ordering::SeqCst) != 0 {
            futex::wake(self.seq(), count)
                .map_err(|e| Error::sys("futex(FUTEX_WAKE)", self.context(), e))?;
        }
        Ok(())
    }

    /// Announces a waiter and returns the sequence number it waits to see change.
    fn begin_wait(&self) -> u32 {
        // SeqCst: see `notify`.
        self.waiters().fetch_add(1, Ordering::SeqCst);
        self.seq().load(Ordering::SeqCst)
    }

    fn end_wait(&self) {
        self.waiters().fetch_sub(1, Ordering::Relaxed);
    }

    /// Sleeps while `seq == seen`, at most `timeout`. `Ok(true)` when the time ran out.
    fn sleep(&self, seen: u32, timeout: Option<Duration>) -> Result<bool> {
        match futex::wait(self.seq(), seen, timeout) {
            Ok(()) => Ok(false),
            Err(e) if e.raw() == EAGAIN || e.raw() == EINTR => Ok(false),
            Err(e) if e.raw() == ETIMEDOUT => Ok(true),
            Err(e) => Err(Error::sys("futex(FUTEX_WAIT)", self.context(), e)),
        }
    }
}

/// Whether a timed wait ended because its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True when the time ran out (the condition may still have become true).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable in shared memory, used with a [`RobustMutex`](super::RobustMutex),
/// built on a futex sequence counter (not `pthread_cond_t`, which can deadlock for good
/// when waiters are killed).
///
/// Waits can wake spuriously: wait in a loop that re-checks the condition. Any process that
/// attached the segment can wait and notify; waiters killed at any point do not break it.
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
// The default holder is the only mention of segments here (see `RobustMutex`).
pub struct Condvar<R = crate::Attachment> {
    counter: Counter<R>,
}

impl<R: Deref<Target = Region<ReadWrite>>> Condvar<R> {
    /// The bytes the structure takes (a multiple of 64).
    pub const SIZE: usize = SIZE;

    fn layout() -> Layout {
        Counter::<R>::layout("Condvar", *b"shmkCOND")
    }

    /// Lays out a new condition variable at `offset` of `region` (a multiple of 64, with
    /// [`SIZE`](Condvar::SIZE) bytes free).
    ///
    /// # Errors
    /// As [`RobustMutex::create_in`](super::RobustMutex::create_in).
    pub fn create_in(region: R, offset: usize) -> Result<Self> {
        let counter = Counter::create(region, offset, &Self::layout(), "Condvar::create_in")?;
        Ok(Condvar { counter })
    }

    /// Opens the condition variable at `offset` of `region`, validating its header.
    ///
    /// # Errors
    /// As [`RobustMutex::open_in`](super::RobustMutex::open_in).
    pub fn open_in(region: R, offset: usize) -> Result<Self> {
        let counter = Counter::open(region, offset, &Self::layout(), "Condvar::open_in")?;
        Ok(Condvar { counter })
    }

    /// Unlocks the guard's mutex, sleeps until notified (or spuriously), and locks it again.
    ///
    /// # Errors
    /// - [`LockError::OwnerDied`] when relocking found the holder dead (the guard is in it,
    ///   as from [`RobustMutex::lock`](super::RobustMutex::lock)); also returned at once,
    ///   without waiting, when `guard` itself is still inconsistent: mark it consistent
    ///   first.
    /// - [`LockError::Failed`] when unlocking, waiting or relocking failed.
    ///
    /// # References
    /// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html) (`FUTEX_WAIT`)
    pub fn wait<'a, T: ShmSafe, M: Deref<Target = Region<ReadWrite>>>(
        &self,
        guard: MutexGuard<'a, T, M>,
    ) -> std::result::Result<MutexGuard<'a, T, M>, LockError<'a, T, M>> {
        self.wait_inner(guard, None).map(|(g, _)| g)
    }

    /// As [`wait`](Condvar::wait), taking at most about `timeout` in all: the sleep
    /// (measured on `CLOCK_MONOTONIC`) *and* relocking the mutex share the time, so that a
    /// peer that holds the mutex (or scribbled over it) cannot keep this call waiting.
    ///
    /// # Errors
    /// As [`wait`](Condvar::wait); [`LockError::Failed`] with [`ErrorKind::TimedOut`] when
    /// the mutex could not be locked again in time (the guard is gone then: the mutex is not
    /// held).
    pub fn wait_timeout<'a, T: ShmSafe, M: Deref<Target = Region<ReadWrite>>>(
        &self,
        guard: MutexGuard<'a, T, M>,
        timeout: Duration,
    ) -> std::result::Result<(MutexGuard<'a, T, M>, WaitTimeoutResult), LockError<'a, T, M>> {
        self.wait_inner(guard, Some(timeout))
            .map(|(g, t)| (g, WaitTimeoutResult(t)))
    }

    fn wait_inner<'a, T: ShmSafe, M: Deref<Target = Region<ReadWrite>>>(
        &self,
        guard: MutexGuard<'a, T, M>,
        timeout: Option<Duration>,
    ) -> std::result::Result<(MutexGuard<'a, T, M>, bool), LockError<'a, T, M>> {
        if !guard.is_consistent() {
            return Err(LockError::OwnerDied(guard));
        }
        let mutex = guard.mutex();
        // Read `seq` while still holding the mutex: a notifier that changes the condition
        // under the mutex increments `seq` after this load.
        let seen = self.counter.begin_wait();
        if let Err(e) = guard.unlock() {
            self.counter.end_wait();
            return Err(LockError::Failed(e));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let slept = self.counter.sleep(seen, timeout);
        self.counter.end_wait();
        let guard = match deadline {
            None => mutex.lock()?,
            Some(deadline) => {
                mutex.lock_timeout(deadline.saturating_duration_since(Instant::now()))?
            }
        };
        match slept {
            Ok(timed_out) => Ok((guard, timed_out)),
            Err(e) => Err(LockError::Failed(e)),
        }
    }

    /// Wakes one waiter (if any sleeps). If that waiter dies before it returns, the
    /// notification is lost: prefer [`notify_all`](Condvar::notify_all) where waiters
    /// can be killed.
    ///
    /// # Errors
    /// An error from `FUTEX_WAKE` (none is expected).
    ///
    /// # References
    /// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html) (`FUTEX_WAKE`)
    pub fn notify_one(&self) -> Result<()> {
        self.counter.notify(1)
    }

    /// Wakes every waiter.
    ///
    /// # Errors
    /// An error from `FUTEX_WAKE` (none is expected).
    ///
    /// # References
    /// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html) (`FUTEX_WAKE`)
    pub fn notify_all(&self) -> Result<()> {
        self.counter.notify(i32::MAX)
    }

    /// The structure's offset in its region.
    pub fn offset(&self) -> usize {
        self.counter.offset
    }
}

impl<R> fmt::Debug for Condvar<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar")
            .field("offset", &self.counter.offset)
            .finish_non_exhaustive()
    }
}

/// An event count in shared memory: processes wait for "something happened" without a
/// mutex, on a futex sequence counter.
///
/// To wait for a condition that other processes make true: take a token with
/// [`listen`](Event::listen), check the condition, and if it does not hold, wait with the
/// token. A notification after `listen` ends the wait, so none is lost between the check and
/// the wait:
///
/// ```
/// # use shmkit::{Key, Segment, sync::Event};
/// # let segment = Segment::create(Key::PRIVATE, 4096)?.remove_on_drop();
/// # let map = segment.attach()?;
/// let event = Event::create_in(map.region(), 0)?;
/// let flag = map.atomic_u32(128)?;
/// # flag.store(1, std::sync::atomic::Ordering::Release);
/// loop {
///     let token = event.listen();
///     if flag.load(std::sync::atomic::Ordering::Acquire) == 1 {
///         break;
///     }
///     event.wait(token)?;
/// }
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
// The default holder is the only mention of segments here (see `RobustMutex`).
pub struct Event<R = crate::Attachment> {
    counter: Counter<R>,
}

/// The point an [`Event`] wait starts from, taken by [`Event::listen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventToken(u32);

impl<R: Deref<Target = Region<ReadWrite>>> Event<R> {
    /// The bytes the structure takes (a multiple of 64).
    pub const SIZE: usize = SIZE;

    fn layout() -> Layout {
        Counter::<R>::layout("Event", *b"shmkEVNT")
    }

    /// Lays out a new event at `offset` of `region` (a multiple of 64, with
    /// [`SIZE`](Event::SIZE) bytes free).
    ///
    /// # Errors
    /// As [`RobustMutex::create_in`](super::RobustMutex::create_in).
    pub fn create_in(region: R, offset: usize) -> Result<Self> {
        let counter = Counter::create(region, offset, &Self::layout(), "Event::create_in")?;
        Ok(Event { counter })
    }

    /// Opens the event at `offset` of `region`, validating its header.
    ///
    /// # Errors
    /// As [`RobustMutex::open_in`](super::RobustMutex::open_in).
    pub fn open_in(region: R, offset: usize) -> Result<Self> {
        let counter = Counter::open(region, offset, &Self::layout(), "Event::open_in")?;
        Ok(Event { counter })
    }

    /// A token for waiting on notifications that come after this call.
    pub fn listen(&self) -> EventToken {
        // SeqCst: ordered with the notifier's increment (see `Counter::notify`), and with
        // the caller's check of its condition that follows.
        EventToken(self.counter.seq().load(Ordering::SeqCst))
    }

    /// Waits until a notification after `token` was taken (returns at once if one came
    /// already).
    ///
    /// # Errors
    /// An error from `FUTEX_WAIT` (none is expected).
    ///
    /// # References
    /// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html) (`FUTEX_WAIT`)
    pub fn wait(&self, token: EventToken) -> Result<()> {
        self.wait_until(token, None)
    }

    /// As [`wait`](Event::wait), for at most `timeout`.
    ///
    /// # Errors
    /// [`ErrorKind::TimedOut`] when the time runs out first.
    pub fn wait_timeout(&self, token: EventToken, timeout: Duration) -> Result<()> {
        self.wait_until(token, Some(Instant::now() + timeout))
    }

    fn wait_until(&self, token: EventToken, deadline: Option<Instant>) -> Result<()> {
        let seen = token.0;
        let now = self.counter.begin_wait();
        let result = if now != seen {
            Ok(())
        } else {
            loop {
                let left = match deadline {
                    None => None,
                    Some(d) => match d.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => Some(left),
                        _ => {
                            break Err(Error::new(
                                ErrorKind::TimedOut,
                                "futex(FUTEX_WAIT)",
                                self.counter.context(),
                                "no notification before the time ran out",
                            ))
                        }
                    },
                };
                if let Err(e) = self.counter.sleep(seen, left) {
                    break Err(e);
                }
                if self.counter.seq().load(Ordering::SeqCst) != seen {
                    break Ok(());
                }
            }
        };
        self.counter.end_wait();
        result
    }

    /// Wakes one waiter. If it dies before returning, the notification is lost with it.
    ///
    /// # Errors
    /// An error from `FUTEX_WAKE` (none is expected).
    ///
    /// # References
    /// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html) (`FUTEX_WAKE`)
    pub fn notify_one(&self) -> Result<()> {
        self.counter.notify(1)
    }

    /// Wakes every waiter.
    ///
    /// # Errors
    /// An error from `FUTEX_WAKE` (none is expected).
    ///
    /// # References
    /// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html) (`FUTEX_WAKE`)
    pub fn notify_all(&self) -> Result<()> {
        self.counter.notify(i32::MAX)
    }

    /// The structure's offset in its region.
    pub fn offset(&self) -> usize {
        self.counter.offset
    }
}

impl<R> fmt::Debug for Event<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("offset", &self.counter.offset)
            .finish_non_exhaustive()
    }
}
