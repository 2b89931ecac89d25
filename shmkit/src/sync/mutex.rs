//! [`RobustMutex`]: a robust, process-shared `pthread_mutex_t` guarding a `T` in a segment.
//!
//! Layout (offsets from the structure's start, which is 64-byte aligned):
//!
//! | offset        | size                     | field                                  |
//! |--------------:|-------------------------:|----------------------------------------|
//! | 0             | 64                       | header (magic `shmkMUTX`)              |
//! | 64            | `size_of::<pthread_mutex_t>()` (40) | the robust mutex            |
//! | `DATA_OFFSET` | `size_of::<T>()`         | the value, aligned for `T`             |
//!
//! The mutex is made by `pthread_mutex_init` with `PTHREAD_PROCESS_SHARED`,
//! `PTHREAD_MUTEX_ROBUST` and `PTHREAD_MUTEX_ERRORCHECK`, but locked and unlocked by shmkit's
//! own implementation of glibc's robust-mutex protocol (`sync::robust`), on the same words:
//! a C program using `pthread_mutex_lock` on the same memory interoperates. Robustness comes
//! from the kernel: glibc registers every thread's robust list with it, shmkit links the
//! mutexes it locks into that list as glibc does, and on the death of a thread the kernel
//! marks each mutex on the list `FUTEX_OWNER_DIED` and wakes one waiter, whose lock then
//! reports the death. Nothing here calls `set_robust_list(2)` (doing so would replace glibc's
//! list and silently break its recovery). Error checking turns a second lock by the holding
//! thread into [`ErrorKind::Deadlock`] instead of a hang.

use super::robust::{Acquired, MutexError, RobustLock};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::header::{self, round_up, Layout, ALIGN, HEADER_SIZE};
use crate::layout::{bytes_of, ShmSafe};
use crate::region::{ReadWrite, Region};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

const MAGIC: [u8; 8] = *b"shmkMUTX";
/// Where the `pthread_mutex_t` sits in the structure.
pub(crate) const LOCK_OFFSET: usize = HEADER_SIZE;

/// A mutex in shared memory that survives its holder being killed, guarding a `T`.
///
/// It is a robust, process-shared, error-checking `pthread_mutex_t` placed in a segment,
/// followed by the value. [`lock`](RobustMutex::lock) returns a [`MutexGuard`] that derefs to
/// the `T`; when the previous holder died while holding the lock, it returns
/// [`LockError::OwnerDied`] carrying the guard instead: the data may be half-updated, so the
/// caller repairs it and calls [`MutexGuard::mark_consistent`]. Dropping that guard without
/// marking it consistent makes the mutex unusable for every process: later locks fail with
/// [`ErrorKind::NotRecoverable`].
///
/// The locking is glibc 2.36's robust-mutex protocol (the same words, values and futex
/// operations, the same entries in glibc's per-thread robust list), implemented in Rust: a C
/// program locking the same `pthread_mutex_t` with `pthread_mutex_lock` excludes and wakes
/// shmkit's lockers and sees their deaths as `EOWNERDEAD`, and the other way round. A thread
/// can hold at most 32 of these mutexes at once ([`ErrorKind::LimitExceeded`] beyond).
/// Locking or unlocking from a signal handler is not supported: a handler that interrupted
/// another lock or unlock call on the same thread gets [`ErrorKind::Unsupported`] (and one
/// that unlocks what the interrupted code holds breaks its exclusion).
///
/// `R` holds the memory: `&Region` (borrowed from an attachment, see
/// [`create_in`](RobustMutex::create_in)) or an owned [`Attachment`](crate::Attachment) (see
/// [`create`](RobustMutex::create)). A guard borrows the mutex, which holds `R`, so the
/// segment cannot be detached while this process holds the lock. If a guard is leaked with
/// `std::mem::forget`, the mutex handle notices when it goes away and marks the region
/// ([`Region::locks_held`], one of its [pins](Region::pins)); an attachment so marked
/// refuses to detach and leaks its mapping when dropped, so the kernel's robust list never
/// points into unmapped or reused memory. The check costs a plain store per lock and unlock.
///
/// # Hostile peers
/// Any process that attached the segment can write the words of the `pthread_mutex_t` at
/// any time, also while this process is inside a call. glibc trusts those words (a
/// rewritten `__kind` reached its assertions, SIGABRT, or an endless `pause()`; rewritten
/// robust-list pointers made its unlock write through them, SIGSEGV; a lock word naming a
/// vanished thread kept `pthread_mutex_lock` waiting for ever; a lock word rewritten over and
/// over kept `pthread_mutex_timedlock` looping past its deadline). So no glibc code runs on
/// the mutex after `pthread_mutex_init`: lock, `try_lock`, `lock_timeout`, unlock and
/// [`mark_consistent`](MutexGuard::mark_consistent) are shmkit's own code, which loads each
/// word once per use into a local, validates it, and never follows a pointer read from the
/// segment. Guaranteed, whatever other processes write and whenever they write it:
///
/// - no call crashes, aborts or panics, and none reads or writes memory at an address taken
///   from the segment: this thread links its mutexes into its robust list and unlinks them
///   through a per-thread record of the addresses it linked (the links next to each follow
///   from it: shmkit links its mutexes after the ones glibc linked, so glibc never rewrites
///   them), never through a mutex's own `__list` pointers, which are only compared with the
///   record;
/// - every outcome is typed: a lock, [`LockError::OwnerDied`], or an error of kind
///   `WouldBlock`, `TimedOut`, `Deadlock`, `NotRecoverable`, or [`ErrorKind::Corrupt`]
///   naming the word and the value no correct party leaves there;
/// - `try_lock` never sleeps; `lock_timeout` returns by its deadline plus scheduling delays
///   (it sleeps at most until the deadline, and checks it before every sleep and after
///   every turn of its loop that did not sleep); woken by an unlock after its deadline, it
///   still takes the free mutex, as glibc's does, and one that gives up after being woken
///   wakes the next waiter, so no waiter (shmkit's or a C program's) is left asleep on a
///   free mutex;
/// - `lock()` waits only while the lock word names a thread that exists: every 50 ms of
///   waiting it checks the named thread with `kill(tid, 0)`, and takes a word naming a
///   vanished thread over as owner-died (as the kernel would have marked it), as does
///   `lock_timeout`;
/// - a lock word naming this very thread gives [`ErrorKind::Deadlock`] from every lock
///   call while this thread holds any robust mutex (through shmkit, by any handle or
///   attachment, or through glibc), as glibc's error-checking mutex does: it may hold this
///   one (an error, not a hang; never a second guard). While this thread holds no robust
///   mutex at all, no guard for this one can exist on it, so such a word is stale (a peer
///   wrote this thread's id there, or put it back after this thread's unlock): every lock
///   call takes it over as a vanished holder's, giving [`LockError::OwnerDied`] with the
///   guard, so that the caller checks the data;
/// - an unlock puts back every word this thread, as the holder, knows the value of, unlocks
///   and unlinks the mutex all the same, and reports [`ErrorKind::Corrupt`] naming what it
///   found.
///
/// | word | checked when | values accepted (anything else is `Corrupt`) |
/// |---|---|---|
/// | `__kind` | every lock, unlock and `mark_consistent` | exactly `0x92` as created (robust, error-checking, process-shared); never used to choose a path |
/// | `__lock` | every time it is loaded | 0; a thread id below `PID_MAX_LIMIT` (4194304), with or without `FUTEX_WAITERS`; `FUTEX_OWNER_DIED` with thread id 0 (with or without `FUTEX_WAITERS`); at unlock and `mark_consistent`: this thread's id |
/// | `__owner` | after acquiring a free lock; at unlock and `mark_consistent` | 0 or `PTHREAD_MUTEX_NOTRECOVERABLE` after acquiring (the lock is released again otherwise); this thread's id, or `PTHREAD_MUTEX_INCONSISTENT` for an owner-died guard, at unlock |
/// | `__count` | after acquiring a free lock; at unlock | 0 or 1; 1 at unlock |
/// | `__list.__prev`, `__list.__next` | at unlock | what this thread's record says (for the `__prev` of this thread's oldest shmkit mutex while it also holds robust mutexes locked through glibc: the last of those); never followed |
///
/// `__nusers`, `__spins` and `__elision` are written as glibc does but never read to decide
/// anything (`__nusers` drifts legitimately when holders are killed).
///
/// Not guaranteed, because no code in this process can prevent it:
/// - **Exclusion and the value.** A peer that rewrites the lock word (to 0, say) lets two
///   processes hold the lock at once, and a peer can write any bytes into the value: what a
///   guard reads is the caller's to validate.
/// - **`lock()` and live thread ids.** A lock word naming a thread that exists keeps
///   `lock()` waiting, as a live holder that never unlocks would: a peer can write the id of
///   any live thread (its own, or 1). A word naming a live thread other than the caller
///   that holds nothing (a peer wrote its id, or put it back after that thread's unlock)
///   keeps `lock()` waiting until that thread's next lock call on this mutex takes the word
///   over (see above), or until someone rewrites the word; if that thread never locks the
///   mutex again, for ever. A holder that vanished without the kernel marking the word and
///   whose id was reused by a new thread counts as alive too (if the kernel gave that id to
///   this very thread, this thread's locks of the mutex give `Deadlock` while it holds
///   another robust mutex, and `OwnerDied` otherwise), and so does one whose process exited
///   but was not reaped yet. Use `lock_timeout` with peers you do not trust.
///   `try_lock` reports a word naming a vanished thread busy (it checks nothing).
/// - **The kernel's walk of a dying thread's list.** The kernel follows each held mutex's
///   `__list.__next` when the thread dies. This thread rewrites the `__next` of every mutex
///   it holds from its record at each of its lock and unlock calls; a peer that rewrites one
///   in between can, until this thread's next call, hide the mutexes this thread locked
///   after that one from that walk. If the thread dies in that window, those mutexes keep the dead thread's
///   id instead of `FUTEX_OWNER_DIED`, and other lockers find them through the check above
///   (up to 50 ms later; `try_lock` not at all). The kernel also follows the peer's pointer
///   (it reads with fault handling, so nothing crashes, and stops after 2048 entries): in a
///   process that keeps running after one of its threads died, it can set bit 30 of a 4-byte
///   word of that process's memory at an address the peer chose, if that word holds the dead
///   thread's id.
/// - **Robust mutexes locked through glibc by the same thread.** While this thread holds
///   robust mutexes it locked with `pthread_mutex_lock` directly, its first shmkit lock and
///   the unlock of its oldest shmkit mutex walk through those mutexes' `__list.__next` (as
///   the kernel does) to find where shmkit's entries begin. If such a mutex lives in memory
///   a peer can write, the peer can make that walk follow its pointers, as it can make
///   glibc's own unlock of that mutex follow them (a walk that meets a null, misaligned or
///   looping pointer gives `Corrupt`). Pointers in shmkit's own mutexes are never followed.
///   Unlocking a mutex a shmkit guard holds with `pthread_mutex_unlock` is not supported
///   (glibc would follow that mutex's pointers).
/// - A C program sharing the mutex through glibc trusts the words as glibc does.
///
/// How often the old windows were hit was measured with a scribbler process that writes
/// random 4-byte values into words of the `pthread_mutex_t` every few microseconds while a
/// locker process takes it (`try_lock`, `lock_timeout`), holds it briefly and unlocks it,
/// 20 000 times (debug build, test `a_concurrent_scribbler_kills_no_locker_and_delays_no_timed_lock`
/// in `tests/sync_mutex.rs`). With glibc doing the locking behind checks of its words, the
/// list pointers alone killed 17 of 20 lockers in one measurement and 3 of 10 in another
/// (SIGSEGV in glibc's unlink), `__kind` alone 1 of 10 (SIGABRT). With this implementation
/// (`SHMKIT_EXPERIMENT_RUNS=10`): 0 of 40 lockers died (10 each with `__kind` alone, the
/// lock words alone, the list pointers alone, and all words), and the slowest
/// `lock_timeout` returned 3.8 ms after its timeout (18 ms in an earlier run on a busier
/// machine; the test allows 2 s). Measured again after the robust list was reorganised
/// (shmkit's entries after glibc's) and woken timed locks made to pass their wake-up on:
/// 0 of 40 lockers died in each of two runs, and the slowest `lock_timeout` returned
/// 11.7 ms and 10.8 ms after its timeout, on a 2-core machine with a load average of 5,
/// where every delay was a whole number of 4 ms scheduler ticks (the code before measured
/// 7.8 ms in the same conditions).
///
/// # References
/// - [`pthread_mutexattr_setrobust(3)`](https://man7.org/linux/man-pages/man3/pthread_mutexattr_setrobust.3.html)
/// - [`pthread_mutex_consistent(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html)
/// - [`pthread_mutex_lock(3p)`](https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html)
/// - [`pthread_mutexattr_setpshared(3)`](https://man7.org/linux/man-pages/man3/pthread_mutexattr_setpshared.3.html)
// The default holder is the only mention of segments here: every method works on any `R`;
// the constructors that attach a segment are in `in_segment.rs`.
pub struct RobustMutex<T, R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    region: R,
    offset: usize,
    /// Whether a guard from this handle holds the lock now. Written only by the thread
    /// that holds the pthread mutex (which orders the writes), read when the handle goes
    /// away: still set then means a guard was leaked (`std::mem::forget`), and the region
    /// is marked so that it is never detached (see `Drop`). Process-local memory.
    held: std::sync::atomic::AtomicBool,
    value: PhantomData<T>,
}

impl<T, R: Deref<Target = Region<ReadWrite>>> RobustMutex<T, R> {
    /// Marks the region as holding a lock forever when a guard was leaked.
    fn note_leak(&self) {
        if self.held.load(std::sync::atomic::Ordering::Relaxed) {
            self.region.pin();
        }
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> RobustMutex<T, R> {
    /// Where the value sits, from the structure's start.
    const DATA_OFFSET: usize = round_up(LOCK_OFFSET + RobustLock::SIZE, std::mem::align_of::<T>());
    /// The bytes the structure takes, rounded up to 64 so that the next structure can
    /// follow at `offset + SIZE`.
    pub const SIZE: usize = round_up(Self::DATA_OFFSET + std::mem::size_of::<T>(), ALIGN);
    /// Compile-time check: the value's alignment must not exceed the structure's.
    const FITS: () = assert!(
        std::mem::align_of::<T>() <= ALIGN && RobustLock::ALIGN <= ALIGN,
        "RobustMutex supports values aligned to at most 64 bytes"
    );

    fn layout() -> Layout {
        Layout {
            what: "RobustMutex",
            magic: MAGIC,
            size: Self::SIZE,
            payload_size: std::mem::size_of::<T>(),
            payload_align: std::mem::align_of::<T>(),
            lock_size: RobustLock::SIZE,
        }
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> RobustMutex<T, R> {
    /// Lays out a new mutex holding `value` at `offset` of `region`, which must be a
    /// multiple of 64 with [`SIZE`](RobustMutex::SIZE) bytes free after it. The memory's
    /// state word must be zero (as in a new segment).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] or [`ErrorKind::Misaligned`] for the place;
    /// [`ErrorKind::AlreadyExists`] when something was created there;
    /// [`ErrorKind::Unsupported`] when `/proc/self/ns/pid` cannot be read; an error from
    /// `pthread_mutex_init`.
    ///
    /// # References
    /// - [`pthread_mutexattr_setrobust(3)`](https://man7.org/linux/man-pages/man3/pthread_mutexattr_setrobust.3.html)
    /// - [`pthread_mutexattr_setpshared(3)`](https://man7.org/linux/man-pages/man3/pthread_mutexattr_setpshared.3.html)
    pub fn create_in(region: R, offset: usize, value: T) -> Result<Self> {
        let () = Self::FITS;
        let call = "RobustMutex::create_in";
        header::begin_create(&region, offset, &Self::layout(), call)?;
        let this = RobustMutex {
            region,
            offset,
            held: std::sync::atomic::AtomicBool::new(false),
            value: PhantomData,
        };
        // SAFETY: begin_create checked that the structure lies inside the region at a
        // 64-byte-aligned address (so the mutex at +64 is aligned for pthread_mutex_t) and
        // claimed it: until the state is ready, no process uses this memory as a mutex.
        let init = unsafe { RobustLock::init(&this.region, offset + LOCK_OFFSET) };
        let body = init
            .map_err(|e| e.into_error("pthread_mutex_init", this.context()))
            .and_then(|()| {
                this.region
                    .write_at(offset + Self::DATA_OFFSET, bytes_of(&value))
            });
        if let Err(e) = body {
            header::abandon_create(&this.region, offset);
            return Err(e);
        }
        header::finish_create(&this.region, offset)?;
        Ok(this)
    }

    /// Opens the mutex at `offset` of `region`, validating its header: magic, version,
    /// sizes (of `T` and of `pthread_mutex_t`), bounds, alignment and pid namespace.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`], [`ErrorKind::Misaligned`], [`ErrorKind::NotInitialised`],
    /// [`ErrorKind::LayoutMismatch`], or [`ErrorKind::ForeignNamespace`] when the creator
    /// lives in another pid namespace.
    pub fn open_in(region: R, offset: usize) -> Result<Self> {
        let () = Self::FITS;
        header::open(&region, offset, &Self::layout(), "RobustMutex::open_in")?;
        Ok(RobustMutex {
            region,
            offset,
            held: std::sync::atomic::AtomicBool::new(false),
            value: PhantomData,
        })
    }

    /// The region the mutex lives in.
    pub fn region(&self) -> &Region<ReadWrite> {
        &self.region
    }

    /// The structure's offset in its region.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Gives back the region holder (for example the [`Attachment`](crate::Attachment)). No
    /// guard can exist at this point: guards borrow the mutex.
    pub fn into_inner(self) -> R {
        self.note_leak();
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so the region is moved out once.
        unsafe { std::ptr::read(&this.region) }
    }

    /// The raw lock this front types.
    #[inline]
    fn robust(&self) -> RobustLock<'_> {
        // SAFETY: the mutex lies inside the region, aligned (checked when `self` was made),
        // and was initialised by its creator (the state was ready). The region stays
        // mapped while `self` is borrowed, and while this thread holds the lock: a guard
        // borrows `self`, which holds the region, and a leaked guard pins the region so
        // that it is never detached (see `Drop`).
        unsafe { RobustLock::at(&self.region, self.offset + LOCK_OFFSET) }
    }

    fn data(&self) -> *mut T {
        self.region
            .as_mut_ptr()
            .wrapping_add(self.offset + Self::DATA_OFFSET)
            .cast()
    }

    fn context(&self) -> String {
        format!("offset={}", self.offset)
    }

    fn outcome(
        &self,
        result: std::result::Result<Acquired, MutexError>,
        call: &'static str,
    ) -> std::result::Result<MutexGuard<'_, T, R>, LockError<'_, T, R>> {
        match result {
            Ok(Acquired::Clean) => Ok(MutexGuard::new(self, false)),
            Ok(Acquired::OwnerDied) => Err(LockError::OwnerDied(MutexGuard::new(self, true))),
            Err(e) => Err(LockError::Failed(self.lock_error(call, e))),
        }
    }

    /// The error of a lock that failed (kept out of line: the lock's fast path stays small).
    #[cold]
    #[inline(never)]
    fn lock_error(&self, call: &'static str, e: MutexError) -> Error {
        if e.is_busy() {
            e.into_error(call, self.context())
                .with_kind(ErrorKind::WouldBlock)
        } else {
            e.into_error(call, self.context())
        }
    }

    /// Locks, waiting as long as another thread or process holds the lock.
    ///
    /// While it waits, it checks every 50 ms that the thread named as
    /// holder still exists: one that vanished without the kernel marking the lock (see
    /// [Hostile peers](RobustMutex#hostile-peers)) counts as a holder that died.
    ///
    /// # Errors
    /// - [`LockError::OwnerDied`] with the guard: the previous holder died holding the lock,
    ///   or the lock word names this thread while it holds no robust mutex (a stale word:
    ///   see [Hostile peers](RobustMutex#hostile-peers)).
    /// - [`ErrorKind::NotRecoverable`]: an earlier owner-died guard was dropped without
    ///   [`mark_consistent`](MutexGuard::mark_consistent).
    /// - [`ErrorKind::Deadlock`]: this thread already holds it (through this or another
    ///   handle or attachment of the same memory, or through glibc), or a peer wrote this
    ///   thread's id into the lock word while this thread holds another robust mutex.
    /// - [`ErrorKind::Corrupt`]: another process overwrote a word of the mutex with a value
    ///   no correct party leaves there (see [Hostile peers](RobustMutex#hostile-peers)).
    /// - [`ErrorKind::LimitExceeded`]: this thread already holds 32 robust mutexes.
    /// - [`ErrorKind::Unsupported`]: called from a signal handler that interrupted another
    ///   lock or unlock on this thread, or glibc registered no robust list for the thread.
    ///
    /// # References
    /// - [`pthread_mutex_lock(3p)`](https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html)
    /// - [`pthread_mutex_consistent(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html)
    #[doc(alias = "pthread_mutex_lock")]
    pub fn lock(&self) -> std::result::Result<MutexGuard<'_, T, R>, LockError<'_, T, R>> {
        self.outcome(self.robust().lock(), "RobustMutex::lock")
    }

    /// Locks if no one holds the lock, without waiting.
    ///
    /// # Errors
    /// [`ErrorKind::WouldBlock`] when held; otherwise as [`lock`](RobustMutex::lock).
    ///
    /// # References
    /// - [`pthread_mutex_trylock(3p)`](https://man7.org/linux/man-pages/man3/pthread_mutex_trylock.3p.html)
    #[doc(alias = "pthread_mutex_trylock")]
    pub fn try_lock(&self) -> std::result::Result<MutexGuard<'_, T, R>, LockError<'_, T, R>> {
        self.outcome(self.robust().try_lock(), "RobustMutex::try_lock")
    }

    /// Locks, waiting at most `timeout` (measured on `CLOCK_MONOTONIC`): the call returns
    /// by then, whatever other processes write into the mutex meanwhile.
    ///
    /// # Errors
    /// [`ErrorKind::TimedOut`] when the time runs out; otherwise as
    /// [`lock`](RobustMutex::lock).
    ///
    /// # References
    /// - [`pthread_mutex_timedlock(3p)`](https://man7.org/linux/man-pages/man3/pthread_mutex_timedlock.3p.html)
    #[doc(alias = "pthread_mutex_timedlock")]
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<MutexGuard<'_, T, R>, LockError<'_, T, R>> {
        self.outcome(
            self.robust().lock_timeout(timeout),
            "RobustMutex::lock_timeout",
        )
    }
}

impl<T, R: Deref<Target = Region<ReadWrite>>> fmt::Debug for RobustMutex<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RobustMutex")
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

/// Proof that this thread holds a [`RobustMutex`]; derefs to the value. Dropping it unlocks.
///
/// It is not `Send`: a pthread mutex must be unlocked by the thread that locked it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> {
    mutex: &'a RobustMutex<T, R>,
    inconsistent: bool,
    not_send: PhantomData<*const ()>,
}

impl<'a, T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> MutexGuard<'a, T, R> {
    fn new(mutex: &'a RobustMutex<T, R>, inconsistent: bool) -> Self {
        // Set until released: if this guard is leaked, the mutex handle notices when it goes
        // away and keeps the mapping from ever being detached (the kernel's robust list of
        // this thread points into it). A plain store: this thread holds the lock.
        mutex.held.store(true, std::sync::atomic::Ordering::Relaxed);
        MutexGuard {
            mutex,
            inconsistent,
            not_send: PhantomData,
        }
    }

    /// The mutex this guard holds.
    pub fn mutex(&self) -> &'a RobustMutex<T, R> {
        self.mutex
    }

    /// Whether the lock is consistent: false after [`LockError::OwnerDied`] until
    /// [`mark_consistent`](MutexGuard::mark_consistent).
    pub fn is_consistent(&self) -> bool {
        !self.inconsistent
    }

    /// Declares the data repaired after [`LockError::OwnerDied`]
    /// (`pthread_mutex_consistent`): the mutex goes back to normal use. Does nothing on a
    /// guard that is already consistent.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when another process overwrote `__kind`, `__lock` or
    /// `__owner` (the guard stays inconsistent); [`ErrorKind::Unsupported`] when called from
    /// a signal handler that interrupted another lock or unlock call on this thread.
    ///
    /// # References
    /// - [`pthread_mutex_consistent(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html)
    #[doc(alias = "pthread_mutex_consistent")]
    pub fn mark_consistent(&mut self) -> Result<()> {
        if !self.inconsistent {
            return Ok(());
        }
        self.mutex
            .robust()
            .mark_consistent()
            .map_err(|e| e.into_error("MutexGuard::mark_consistent", self.mutex.context()))?;
        self.inconsistent = false;
        Ok(())
    }

    /// Unlocks now, reporting an error that dropping would ignore.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when another process overwrote a word of the mutex while this
    /// thread held it: the values glibc leaves were put back, and the mutex unlocked and
    /// unlinked all the same; [`ErrorKind::Unsupported`] when called from a signal handler
    /// that interrupted another lock or unlock call on this thread (the mutex stays
    /// locked); [`ErrorKind::NotPermitted`] when this thread does not hold the lock (a guard
    /// inherited by the child of a `fork`).
    ///
    /// # References
    /// - [`pthread_mutex_unlock(3p)`](https://man7.org/linux/man-pages/man3/pthread_mutex_unlock.3p.html)
    pub fn unlock(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        this.release()
    }

    fn release(&self) -> Result<()> {
        let result = self.mutex.robust().unlock(self.inconsistent);
        // Unlocked and unlinked, except when the call could not be made at all (re-entered
        // from a signal handler): then it is still on this thread's robust list (the kernel
        // may still write into it), so keep the mark and the mapping is never detached.
        let still_held = matches!(result, Err(MutexError::Unsupported(_)));
        self.mutex
            .held
            .store(still_held, std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(e.into_error("MutexGuard::unlock", self.mutex.context())),
        }
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> Deref for MutexGuard<'_, T, R> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the value lies inside the region, aligned for T (checked when the mutex
        // was made), and stays mapped while the guard borrows the mutex. This thread holds
        // the lock, and every party that touches the value does so only while holding it
        // (that is the protocol; design.md rule 1), so nothing writes it while this
        // reference lives. Any bytes a dead holder left are a valid T (T: ShmSafe).
        unsafe { &*self.mutex.data() }
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> DerefMut for MutexGuard<'_, T, R> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference through
        // this guard; no other guard for this mutex can exist while this thread holds it
        // (a second lock by the same thread fails with EDEADLK).
        unsafe { &mut *self.mutex.data() }
    }
}

impl<T, R: Deref<Target = Region<ReadWrite>>> Drop for RobustMutex<T, R> {
    fn drop(&mut self) {
        // No guard can be alive (it would borrow `self`): a set flag means one was leaked.
        self.note_leak();
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> Drop for MutexGuard<'_, T, R> {
    fn drop(&mut self) {
        // Unlocking an inconsistent robust mutex makes it not-recoverable for everyone:
        // that is the documented outcome of dropping an owner-died guard.
        let _ = self.release();
    }
}

impl<T: ShmSafe + fmt::Debug, R: Deref<Target = Region<ReadWrite>>> fmt::Debug
    for MutexGuard<'_, T, R>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexGuard")
            .field("value", &**self)
            .field("consistent", &!self.inconsistent)
            .finish()
    }
}

/// Why [`RobustMutex::lock`] (or `try_lock`, `lock_timeout`) did not return a plain guard.
pub enum LockError<'a, T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> {
    /// The previous holder died holding the lock (`EOWNERDEAD`). This thread now holds it:
    /// repair the value through the guard, then call
    /// [`MutexGuard::mark_consistent`]. Dropping the guard without doing so makes the
    /// mutex not-recoverable.
    OwnerDied(MutexGuard<'a, T, R>),
    /// The lock was not taken.
    Failed(Error),
}

impl<'a, T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> LockError<'a, T, R> {
    /// [`ErrorKind::OwnerDied`], or the failure's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LockError::OwnerDied(_) => ErrorKind::OwnerDied,
            LockError::Failed(e) => e.kind(),
        }
    }

    /// The guard of an owner-died outcome.
    pub fn into_owner_died(self) -> Option<MutexGuard<'a, T, R>> {
        match self {
            LockError::OwnerDied(guard) => Some(guard),
            LockError::Failed(_) => None,
        }
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> fmt::Debug for LockError<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> fmt::Display for LockError<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(g) => write!(
                f,
                "RobustMutex::lock(offset={}): the previous owner died holding the lock (EOWNERDEAD)",
                g.mutex.offset
            ),
            LockError::Failed(e) => e.fmt(f),
        }
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> std::error::Error for LockError<'_, T, R> {}
