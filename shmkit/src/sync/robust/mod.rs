//! The raw robust lock behind [`RobustMutex`](super::RobustMutex) and the writer lock of
//! [`SeqLock`](super::SeqLock), which are typed fronts over it (as `lock_api`'s `Mutex` is
//! over a `RawMutex`): the only code that touches `sys::pthread`. It is glibc 2.36's own
//! algorithm for a robust, process-shared, error-checking `pthread_mutex_t`
//! (`PTHREAD_MUTEX_ROBUST_ERRORCHECK_NP` with the process-shared bit; no priority
//! inheritance or protection), re-implemented over atomics on the same words, so that no
//! glibc code runs on memory another process may be rewriting.
//!
//! Sources followed: glibc's `nptl/pthread_mutex_lock.c` (`__pthread_mutex_lock_full`),
//! `pthread_mutex_timedlock.c`, `pthread_mutex_trylock.c`, `pthread_mutex_unlock.c`
//! (`__pthread_mutex_unlock_full`), `pthread_mutex_consistent.c`, and the list macros
//! `ENQUEUE_MUTEX`/`DEQUEUE_MUTEX` of `nptl/descr.h`. A C program locking the same mutex
//! with `pthread_mutex_lock` interoperates (tested against a gcc-built peer).
//!
//! # The words
//!
//! | word | value | written by |
//! |---|---|---|
//! | `__lock` | 0 (free); holder's thread id, with `FUTEX_WAITERS` (bit 31) once someone may sleep on it; `FUTEX_OWNER_DIED` (bit 30) with thread id 0 after its holder died | lockers (compare-and-swap), the holder's unlock (swap to 0), the kernel when the holder dies |
//! | `__owner` | holder's thread id; 0 when free; `PTHREAD_MUTEX_INCONSISTENT` (`INT_MAX`) while an owner-died lock is not marked consistent; `PTHREAD_MUTEX_NOTRECOVERABLE` (`INT_MAX - 1`) for good after such a lock was unlocked | the holder |
//! | `__count` | 1 once locked; 0 when found not recoverable | the holder |
//! | `__nusers` | +1 per clean lock, -1 per unlock (drifts when holders die) | the holder |
//! | `__kind` | `0x92` as `pthread_mutex_init` made it; never read to choose a path here | nobody after init |
//! | `__list.__prev`, `__list.__next` | the holder's robust-list neighbours; 0 when free | the holder (and glibc, for its own neighbouring entries) |
//!
//! Lock: `list_op_pending` = this mutex; compare-and-swap `__lock` 0 → our id (plus
//! `FUTEX_WAITERS` once we have waited, as glibc's `assume_other_futex_waiters`); an
//! owner-died word is taken over the same way and gives [`Acquired::OwnerDied`] with
//! `__owner = PTHREAD_MUTEX_INCONSISTENT`; a word naming this thread gives `EDEADLK`, as
//! glibc's error-checking mutex does, unless this thread holds no robust mutex at all (then
//! the word is stale and taken over as owner-died: see "Words from other processes");
//! otherwise set `FUTEX_WAITERS` and `FUTEX_WAIT` (shared) on the word. Once acquired: `__owner == PTHREAD_MUTEX_NOTRECOVERABLE` means release again
//! and fail with `ENOTRECOVERABLE`; else `__count = 1`, link the mutex into this thread's
//! robust list (at the tail, see below), clear `list_op_pending`, `__owner = id`,
//! `__nusers += 1`.
//!
//! Unlock: `list_op_pending` = this mutex, unlink it, `__owner` = 0 (or
//! `PTHREAD_MUTEX_NOTRECOVERABLE` for an owner-died lock never marked consistent),
//! `__nusers -= 1`, swap `__lock` to 0 (Release) and `FUTEX_WAKE` one waiter if
//! `FUTEX_WAITERS` was set, clear `list_op_pending`.
//!
//! The files: this one holds the raw lock's interface ([`RobustLock`]: init, lock, try_lock,
//! timed lock, mark consistent, unlock → [`Acquired`] or [`MutexError`]); `list.rs` this
//! thread's record and its robust list (linking and unlinking without following pointers
//! from shared memory); `protocol.rs` the lock and unlock algorithms on the words.
//!
//! # Words from other processes
//!
//! Every word is loaded once per use into a local and validated: a lock word no correct
//! party writes (`FUTEX_WAITERS` with no owner, `FUTEX_OWNER_DIED` with a thread id, a
//! thread id at or above `PID_MAX_LIMIT`), a `__kind` other than the one created, an
//! `__owner` other than 0 or `PTHREAD_MUTEX_NOTRECOVERABLE` in a mutex just acquired free, or
//! a `__count` above 1, gives [`MutexError::Corrupt`] naming the word (a lock acquired to read
//! them is released again). Timed locks sleep at most until their deadline and check it
//! before every sleep and after every turn that did not sleep, so a peer that keeps
//! rewriting the word cannot keep them past it; after a sleep, the word is looked at once
//! before the deadline (as in glibc, whose timed lock checks it only in the kernel's wait),
//! so a locker woken by an unlock takes the free mutex even if its deadline passed
//! meanwhile, and one that gives up after being woken wakes another sleeper (an unlock wakes
//! only one: it must not be lost). A lock word naming a thread that does not exist (checked
//! every [`LIVENESS_PERIOD`](types::LIVENESS_PERIOD) of waiting, with `kill(tid, 0)`) is
//! taken over as owner-died, as the kernel would have marked it.
//!
//! A lock word naming this thread gives `EDEADLK` from every lock call while this thread
//! may hold the mutex: while it holds any robust mutex, through this module (its record
//! is not empty: maybe this mutex, at this address or another mapping of the same memory)
//! or through glibc (its robust list has glibc's entries: an entry this module cannot tell
//! from this mutex's, at another address). A typed error, never a hang and never a second
//! holder. While this thread holds none (its record is empty and `head.list` is the head
//! itself), no guard for the mutex can exist on this thread, so the word is stale: a peer
//! wrote this thread's id there, or put it back after this thread's unlock (a peer that
//! writes 0 into a held word and later puts the old value back with a compare-and-swap
//! does that). Every lock call (`lock`, `try_lock`, timed) then takes it over exactly as a
//! vanished holder's: [`Acquired::OwnerDied`], `__owner = PTHREAD_MUTEX_INCONSISTENT`, so
//! that the caller checks the data. (Such a word used to give `EDEADLK` for ever, while
//! untimed locks in other threads waited for this live thread.) A word naming a live
//! thread *other* than the caller that holds nothing is not detected: the other lockers
//! wait for it (with their deadlines, if any) until that thread's next lock call on this
//! mutex takes the word over, or until someone else rewrites the word.
//!
//! In one rare case `EDEADLK` is wrong: a holder that died without the kernel marking the
//! word (its robust list broken by a peer), whose thread id the kernel then gave to this
//! thread, while this thread holds another robust mutex. This thread's locks of that mutex
//! then fail with `EDEADLK` until it holds none, and other threads wait for it as for a
//! live holder (with their deadlines). Not supported either: a signal handler that locks
//! the mutex while the code it interrupted is inside glibc's `pthread_mutex_lock` of it
//! (glibc has set the word but not yet linked the entry: the handler's lock takes it over).
//!
//! # Not supported
//! - Locking or unlocking from a signal handler that interrupted a call of this module on
//!   the same thread (the thread's record is in use: the call fails with
//!   [`MutexError::Unsupported`]; and a handler that unlocks what the interrupted code
//!   holds breaks mutual exclusion anyway). `fork` from such a handler leaves the child's
//!   record stale.
//! - Unlocking, with glibc's `pthread_mutex_unlock`, a mutex this module locked.
//! - More than [`MAX_HELD`](types::MAX_HELD) of these mutexes held by one thread at once.

use crate::region::{ReadWrite, Region};
use crate::sys::pthread::{self as raw, PthreadMutex, Words};
use std::time::{Duration, Instant};

mod list;
mod protocol;
#[cfg(test)]
mod tests;
mod types;

use list::with_thread;
use types::Wait;
pub(crate) use types::{Acquired, MutexError};

/// One robust mutex: a view of the `pthread_mutex_t` words at a place in a region, made for
/// each call (it borrows the region, which the typed fronts hold).
pub(crate) struct RobustLock<'a> {
    w: Words<'a>,
}

impl<'a> RobustLock<'a> {
    /// The bytes a robust mutex takes (`sizeof(pthread_mutex_t)`).
    pub(crate) const SIZE: usize = raw::MUTEX_SIZE;
    /// The alignment a robust mutex needs.
    pub(crate) const ALIGN: usize = raw::MUTEX_ALIGN;

    /// Initialises a robust, process-shared, error-checking mutex at `offset` of `region`
    /// (`pthread_mutex_init`, the only glibc code that ever runs on it).
    ///
    /// # Errors
    /// glibc's error number, or `ENOTSUP` when this glibc writes another `__kind` than the
    /// protocol follows.
    ///
    /// # Safety
    /// `offset..offset + SIZE` must lie inside `region`, at an address aligned to `ALIGN`,
    /// and no thread or process may use that memory as a mutex during the call (for example:
    /// the structure's header says it is being initialised).
    pub(crate) unsafe fn init(region: &Region<ReadWrite>, offset: usize) -> Result<(), MutexError> {
        let mutex = region
            .as_mut_ptr()
            .wrapping_add(offset)
            .cast::<PthreadMutex>();
        // SAFETY: per the caller's contract: in bounds, aligned, writable (a read-write
        // region), and unused as a mutex while it is initialised.
        unsafe { raw::init_robust_shared(mutex) }.map_err(MutexError::Sys)
    }

    /// The mutex at `offset` of `region`.
    ///
    /// # Safety
    /// `offset..offset + SIZE` must lie inside `region`, at an address aligned to `ALIGN`,
    /// and hold a mutex made by [`init`](RobustLock::init) (in any process). Once this thread
    /// locks it, the mapping must stay until this thread has unlocked it or exited (the
    /// kernel and later calls on this thread touch the words of every mutex on the thread's
    /// robust list): a front whose guard is leaked pins the region ([`Region::pins`]).
    #[inline]
    pub(crate) unsafe fn at(region: &'a Region<ReadWrite>, offset: usize) -> Self {
        let mutex = region
            .as_mut_ptr()
            .wrapping_add(offset)
            .cast::<PthreadMutex>();
        // SAFETY: per the caller's contract: an initialised mutex, mapped while `region` is
        // borrowed (and longer while held).
        unsafe { Self::new(mutex) }
    }

    /// The mutex at `mutex`.
    ///
    /// # Safety
    /// `mutex` must point at a mutex initialised by `init_robust_shared` (in any process),
    /// in memory that stays mapped for `'a` and, once this thread locks it, until this thread
    /// has unlocked it or exited (the kernel and later calls on this thread touch the words
    /// of every mutex on the thread's robust list).
    #[inline]
    unsafe fn new(mutex: *mut PthreadMutex) -> Self {
        RobustLock {
            // SAFETY: per the caller's contract; this module only accesses the words
            // atomically.
            w: unsafe { raw::words(mutex) },
        }
    }

    /// Locks, waiting as long as a live thread holds it.
    ///
    /// # Errors
    /// As [`MutexError`]: `EDEADLK`, `ENOTRECOVERABLE`, `Corrupt`, `Unsupported`, `TooMany`.
    #[inline]
    pub(crate) fn lock(&self) -> Result<Acquired, MutexError> {
        with_thread(|t| t.lock(&self.w, Wait::Forever))
    }

    /// Locks if free (or its holder died), without waiting.
    ///
    /// # Errors
    /// `EBUSY` when held ([`MutexError::is_busy`]); otherwise as [`lock`](RobustLock::lock).
    #[inline]
    pub(crate) fn try_lock(&self) -> Result<Acquired, MutexError> {
        with_thread(|t| t.lock(&self.w, Wait::No(false)))
    }

    /// As [`try_lock`](RobustLock::try_lock), and when the mutex is held, checks that the
    /// thread named as holder exists (`kill(tid, 0)`: a system call): one that does not
    /// counts as a holder that died ([`Acquired::OwnerDied`]). For callers that look now and
    /// then whether a holder is gone, and would otherwise see a vanished holder as busy for
    /// ever.
    ///
    /// # Errors
    /// As [`try_lock`](RobustLock::try_lock).
    pub(crate) fn try_lock_or_reap(&self) -> Result<Acquired, MutexError> {
        with_thread(|t| t.lock(&self.w, Wait::No(true)))
    }

    /// Locks, waiting until `deadline` at most.
    ///
    /// # Errors
    /// `ETIMEDOUT` when the deadline passes; otherwise as [`lock`](RobustLock::lock).
    #[inline]
    pub(crate) fn lock_until(&self, deadline: Instant) -> Result<Acquired, MutexError> {
        with_thread(|t| t.lock(&self.w, Wait::Until(deadline)))
    }

    /// Locks, waiting `timeout` at most (measured on `CLOCK_MONOTONIC`); a timeout too
    /// long to add to the clock waits as [`lock`](RobustLock::lock) does.
    ///
    /// # Errors
    /// As [`lock_until`](RobustLock::lock_until).
    #[inline]
    pub(crate) fn lock_timeout(&self, timeout: Duration) -> Result<Acquired, MutexError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.lock_until(deadline),
            None => self.lock(),
        }
    }

    /// Unlocks a mutex this thread holds; `inconsistent` for an owner-died lock never marked
    /// consistent (the mutex then becomes not recoverable, as in glibc).
    ///
    /// # Errors
    /// `EPERM` when this thread does not hold it (it did not lock it through this module);
    /// `Corrupt` naming each word found rewritten while this thread held the lock: the words
    /// were put back and the mutex unlocked all the same.
    #[inline]
    pub(crate) fn unlock(&self, inconsistent: bool) -> Result<(), MutexError> {
        with_thread(|t| t.unlock(&self.w, inconsistent))
    }

    /// `pthread_mutex_consistent`: marks an owner-died lock this thread holds consistent
    /// (`__owner` = this thread's id).
    ///
    /// # Errors
    /// `Corrupt` (the lock stays inconsistent) when `__kind`, `__lock` or `__owner` holds
    /// another value than this state leaves there.
    pub(crate) fn mark_consistent(&self) -> Result<(), MutexError> {
        with_thread(|t| t.mark_consistent(&self.w))
    }
}
