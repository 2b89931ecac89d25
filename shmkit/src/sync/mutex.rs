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
//! The mutex is made with `PTHREAD_PROCESS_SHARED`, `PTHREAD_MUTEX_ROBUST` and
//! `PTHREAD_MUTEX_ERRORCHECK`. Robustness comes from glibc: every thread's robust list is
//! registered with the kernel by glibc itself, and on the death of a thread the kernel marks
//! each mutex on its list `FUTEX_OWNER_DIED` and wakes one waiter, whose lock then returns
//! `EOWNERDEAD`. Nothing here calls `set_robust_list(2)` (doing so replaces glibc's list and
//! silently breaks recovery). Error checking turns a second lock by the holding thread into
//! [`ErrorKind::Deadlock`] instead of a hang.

use super::header::{self, round_up, Layout, ALIGN, HEADER_SIZE};
use super::robust::{Acquired, MutexError, RobustLock, MAX_HELD};
use super::{bytes_of, ShmSafe};
use crate::error::{Error, ErrorKind, Result};
use crate::region::{ReadWrite, Region};
use crate::shm::Segment;
use crate::sys::pthread::{self, PthreadMutex, EBUSY};
use crate::Attachment;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

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
/// `R` holds the memory: `&Region` (borrowed from an attachment, see
/// [`create_in`](RobustMutex::create_in)) or an owned [`Attachment`] (see
/// [`create`](RobustMutex::create)). A guard borrows the mutex, which holds `R`, so the
/// segment cannot be detached while this process holds the lock. If a guard is leaked with
/// `std::mem::forget`, the mutex handle notices when it goes away and marks the region
/// ([`Region::locks_held`]); an attachment so marked refuses to detach and leaks its
/// mapping when dropped, so the kernel's robust list never points into unmapped or reused
/// memory. The check costs a plain store per lock and unlock.
///
/// # Hostile peers
/// glibc trusts the words inside a `pthread_mutex_t`, and any process that attached the
/// segment can write them. Left unchecked, `__kind = 0` with `__owner != 0` made
/// `lock()` abort the process (glibc's `assert (mutex->__data.__owner == 0)`), a
/// priority-protect `__kind` hit an assertion in glibc's `tpp.c`, and a non-robust
/// `__kind` turned the mutex into a plain one (no owner-died recovery; and a robust
/// unlock of a mutex locked that way wrote through a NULL robust-list pointer: SIGSEGV).
/// So before **every** call into glibc (lock, `try_lock`, `lock_timeout`, unlock,
/// [`mark_consistent`](MutexGuard::mark_consistent), and a guard's drop) the words glibc
/// reads are checked against the values glibc itself leaves there (glibc 2.36,
/// `struct __pthread_mutex_s` of 64-bit Linux; its layout is tested):
///
/// | word | before a lock (`lock`, `try_lock`, `lock_timeout`) | before an unlock / `mark_consistent` (this thread holds it) |
/// |---|---|---|
/// | `__kind` | exactly `0x92`: robust, error-checking, process-shared, no protocol or elision bits | the same |
/// | `__lock` | 0; or `FUTEX_OWNER_DIED` (+ `FUTEX_WAITERS`) with thread id 0; or a thread id below `PID_MAX_LIMIT` (+ `FUTEX_WAITERS`) | this thread's id (+ `FUTEX_WAITERS`) |
/// | `__owner` | 0 or `PTHREAD_MUTEX_NOTRECOVERABLE` when `__lock` is 0 (another value is read again three times after yielding, `__owner` on both sides of `__lock`, since a thread locking or unlocking between the two loads shows a held mutex's owner beside a free lock word for a moment; only a value that stays is corrupt); not checked while another thread holds it or its owner died (glibc writes it after the lock word, so any value is transiently legitimate, and glibc reads it only once it holds the lock) | this thread's id, or `PTHREAD_MUTEX_INCONSISTENT` for an owner-died guard |
/// | `__count` | 0 or 1 | 1 |
/// | `__list.__prev`, `__list.__next` | not read by glibc's lock (it overwrites them) | the neighbours in this thread's robust list, which shmkit tracks per thread |
///
/// `__nusers`, `__spins` and `__elision` are not checked: for this kind glibc never reads
/// them to decide anything (`__nusers` is only counted up and down, and drifts legitimately
/// when holders are killed mid-call).
///
/// A lock call that finds another value fails with [`ErrorKind::Corrupt`], whose message
/// names the word and its value, and glibc is not called; the mutex stays unusable until
/// someone writes glibc's values back. On unlock, this thread holds the lock and so knows
/// what every word must be: it puts glibc's values back, unlocks, and reports
/// [`ErrorKind::Corrupt`] naming what it found (the mutex *is* unlocked then, and this
/// thread's robust list intact). After a lock, a mutex that glibc did not link into this
/// thread's robust list (it took a non-robust path because `__kind` changed during the
/// call) is unlocked again by hand and reported as `Corrupt`; glibc's `EINVAL` (a `__kind`
/// it does not know, read during the call) is reported as `Corrupt` too.
///
/// Guaranteed: a write made while no call on this mutex is in progress in this thread is
/// always detected, never reaches glibc, and never crashes this process or leaves a
/// dangling entry in its robust list. `lock_timeout` returns by its deadline plus
/// scheduling delays whatever static values the words hold: for this kind glibc only
/// waits in `FUTEX_WAIT` with the deadline, and loops without sleeping only while the lock
/// word keeps changing.
///
/// Outside the guarantee, because glibc reads the words again after the check and nothing
/// can make that atomic:
/// - a word rewritten *during* a call, between the check and glibc's read (a window of
///   tens of nanoseconds, longer if this thread is preempted there). A `__kind` rewritten
///   there can still reach glibc's assertion (SIGABRT), an endless `pause()` on the
///   priority-inheritance path (a hang past any deadline), or a non-robust path (detected
///   after the call, see above); robust-list pointers rewritten between the unlock's check
///   and glibc's unlink make glibc write through them (SIGSEGV, or a write into this
///   process's memory);
/// - a peer that rewrites the lock word continuously can keep `lock_timeout` looping in
///   glibc past its deadline for as long as it keeps writing;
/// - `lock()` waits without end on a lock word naming a thread id that no longer exists
///   (as it would for a live holder that never unlocks): use `lock_timeout` with peers
///   you do not trust;
/// - the robust-list pointers are checked only while every robust mutex this thread holds
///   was locked through shmkit (a robust mutex locked by other code in the same thread
///   makes the neighbours unknown; glibc then follows the pointers as they are);
/// - the value itself is the caller's business: a peer can write any bytes there.
///
/// How often those windows are hit was measured with the ignored test
/// `concurrent_scribbler_experiment` in `tests/sync_mutex.rs`: a process writes random
/// 4-byte values into words of the `pthread_mutex_t` every few microseconds while another
/// locks (`try_lock`, `lock_timeout`), holds briefly and unlocks, 20 000 times (debug
/// build, 10 lockers per row). Before these checks: `__kind` alone killed 1 locker
/// (SIGABRT, glibc's `tpp.c` assertion), the list pointers alone 10 (SIGSEGV in glibc's
/// unlink), all words 6 (SIGSEGV), the lock words alone none. With them: `__kind` alone 1
/// of 10 in one measurement and 0 of 30 in the next, all words 0 of 20, the lock words
/// none; but the list pointers alone still 17 of 20. So a peer that keeps rewriting the
/// robust-list pointers of a mutex this process holds can crash it: only share robust
/// mutexes with processes that are trusted not to do that.
///
/// # References
/// - [`pthread_mutexattr_setrobust(3)`](https://man7.org/linux/man-pages/man3/pthread_mutexattr_setrobust.3.html)
/// - [`pthread_mutex_consistent(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html)
/// - [`pthread_mutex_lock(3p)`](https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html)
/// - [`pthread_mutexattr_setpshared(3)`](https://man7.org/linux/man-pages/man3/pthread_mutexattr_setpshared.3.html)
pub struct RobustMutex<T, R: Deref<Target = Region<ReadWrite>> = Attachment> {
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
            self.region.lock_taken();
        }
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> RobustMutex<T, R> {
    /// Where the value sits, from the structure's start.
    const DATA_OFFSET: usize =
        round_up(LOCK_OFFSET + pthread::MUTEX_SIZE, std::mem::align_of::<T>());
    /// The bytes the structure takes, rounded up to 64 so that the next structure can
    /// follow at `offset + SIZE`.
    pub const SIZE: usize = round_up(Self::DATA_OFFSET + std::mem::size_of::<T>(), ALIGN);
    /// Compile-time check: the value's alignment must not exceed the structure's.
    const FITS: () = assert!(
        std::mem::align_of::<T>() <= ALIGN && pthread::MUTEX_ALIGN <= ALIGN,
        "RobustMutex supports values aligned to at most 64 bytes"
    );

    fn layout() -> Layout {
        Layout {
            what: "RobustMutex",
            magic: MAGIC,
            size: Self::SIZE,
            payload_size: std::mem::size_of::<T>(),
            payload_align: std::mem::align_of::<T>(),
            lock_size: pthread::MUTEX_SIZE,
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
        let init = unsafe { pthread::init_robust_shared(this.raw()) };
        let body = init
            .map_err(|e| Error::sys("pthread_mutex_init", this.context(), e))
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

    /// Gives back the region holder (for example the [`Attachment`]). No guard can exist
    /// at this point: guards borrow the mutex.
    pub fn into_inner(self) -> R {
        self.note_leak();
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so the region is moved out once.
        unsafe { std::ptr::read(&this.region) }
    }

    /// The `pthread_mutex_t`.
    pub(crate) fn raw(&self) -> *mut PthreadMutex {
        self.region
            .as_mut_ptr()
            .wrapping_add(self.offset + LOCK_OFFSET)
            .cast()
    }

    /// The lock protocol's view of the mutex.
    fn robust(&self) -> RobustLock<'_> {
        // SAFETY: the mutex lies inside the region, aligned (checked when `self` was made),
        // and was initialised by its creator (the state was ready). The region stays
        // mapped while `self` is borrowed, and while this thread holds the lock: a guard
        // borrows `self`, which holds the region, and a leaked guard marks the region so
        // that it is never detached (see `Drop`).
        unsafe { RobustLock::new(self.raw()) }
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
        if e.raw() == Some(EBUSY) {
            mutex_error(call, self.context(), e).with_kind(ErrorKind::WouldBlock)
        } else {
            mutex_error(call, self.context(), e)
        }
    }

    /// Locks, waiting as long as another thread or process holds the lock.
    ///
    /// While it waits, it checks every 50 ms that the thread named as
    /// holder still exists: one that vanished without the kernel marking the lock (see
    /// [Hostile peers](RobustMutex#hostile-peers)) counts as a holder that died.
    ///
    /// # Errors
    /// - [`LockError::OwnerDied`] with the guard: the previous holder died holding the lock.
    /// - [`ErrorKind::NotRecoverable`]: an earlier owner-died guard was dropped without
    ///   [`mark_consistent`](MutexGuard::mark_consistent).
    /// - [`ErrorKind::Deadlock`]: this thread already holds it.
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
        let robust = self.robust();
        let r = match Instant::now().checked_add(timeout) {
            Some(deadline) => robust.lock_until(deadline),
            None => robust.lock(),
        };
        self.outcome(r, "RobustMutex::lock_timeout")
    }
}

impl<T: ShmSafe> RobustMutex<T, Attachment> {
    /// Attaches `segment` and lays out a new mutex holding `value` at its start: the
    /// mutex owns the attachment.
    ///
    /// # Errors
    /// As [`Segment::attach`] and [`create_in`](RobustMutex::create_in).
    pub fn create(segment: &Segment, value: T) -> Result<Self> {
        Self::create_in(segment.attach()?, 0, value)
    }

    /// Attaches `segment` and opens the mutex at its start.
    ///
    /// # Errors
    /// As [`Segment::attach`] and [`open_in`](RobustMutex::open_in).
    pub fn open(segment: &Segment) -> Result<Self> {
        Self::open_in(segment.attach()?, 0)
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
    /// `__owner` (the guard stays inconsistent); an error from `pthread_mutex_consistent`.
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
            .map_err(|e| mutex_error("MutexGuard::mark_consistent", self.mutex.context(), e))?;
        self.inconsistent = false;
        Ok(())
    }

    /// Unlocks now, reporting an error that dropping would ignore.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when another process overwrote a word of the mutex while this
    /// thread held it: glibc's values were put back and the mutex unlocked all the same
    /// (the message says otherwise if glibc still refused); an error from
    /// `pthread_mutex_unlock`.
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
            Err(e) => Err(mutex_error("MutexGuard::unlock", self.mutex.context(), e)),
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

/// The crate error for a failed mutex call: the error number glibc gives for the same
/// outcome, [`ErrorKind::Corrupt`] naming the word another process overwrote, or why the call
/// cannot be made.
#[cold]
#[inline(never)]
pub(crate) fn mutex_error(call: &'static str, context: String, e: MutexError) -> Error {
    match e {
        MutexError::Sys(errno) => Error::sys(call, context, errno),
        MutexError::Corrupt(what) => Error::new(
            ErrorKind::Corrupt,
            call,
            context,
            format!(
                "the robust mutex was overwritten by another process: {}",
                *what
            ),
        ),
        MutexError::Unsupported(why) => Error::new(ErrorKind::Unsupported, call, context, *why),
        MutexError::TooMany => Error::new(
            ErrorKind::LimitExceeded,
            call,
            context,
            format!("this thread already holds {MAX_HELD} robust mutexes"),
        ),
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
