//! Robust, process-shared `pthread_mutex_t`: the glibc calls behind
//! [`RobustMutex`](crate::sync::RobustMutex).
//!
//! The functions take a raw pointer to a `pthread_mutex_t` inside a mapped segment and
//! return glibc's error number (pthread functions return the error instead of setting
//! `errno`) or [`MutexError::Corrupt`].
//!
//! glibc trusts the words inside a `pthread_mutex_t`, which other processes can overwrite:
//! `__kind` picks the code path (a non-robust value reaches `assert(__owner == 0)`, which
//! aborts the process; a priority-protect value reaches an assertion in `tpp.c`; a
//! priority-inheritance value can end in an endless `pause()`), and on unlock glibc follows
//! `__list.__next`/`__prev` and writes through them. So every call first checks those words
//! against what glibc itself leaves there (see `check_for_lock` and [`unlock`]); what this
//! cannot cover (a word rewritten *during* a call) is documented on
//! [`RobustMutex`](crate::sync::RobustMutex).
//!
//! This module never calls `set_robust_list(2)`: glibc registers each thread's robust list
//! with the kernel itself, and registering another one would silently replace glibc's and
//! break its owner-died recovery.

use super::Errno;
use libc::pthread_mutex_t;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

/// The size of a `pthread_mutex_t`.
pub(crate) const MUTEX_SIZE: usize = std::mem::size_of::<pthread_mutex_t>();
/// The alignment of a `pthread_mutex_t`.
pub(crate) const MUTEX_ALIGN: usize = std::mem::align_of::<pthread_mutex_t>();

fn check(rc: libc::c_int) -> Result<(), Errno> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(rc))
    }
}

/// Initialises `*mutex` as a robust (`PTHREAD_MUTEX_ROBUST`), process-shared
/// (`PTHREAD_PROCESS_SHARED`), error-checking (`PTHREAD_MUTEX_ERRORCHECK`) mutex.
///
/// # Safety
/// `mutex` must point at `MUTEX_SIZE` writable bytes, aligned to `MUTEX_ALIGN`, that no
/// thread or process uses as a mutex during the call.
pub(crate) unsafe fn init_robust_shared(mutex: *mut pthread_mutex_t) -> Result<(), Errno> {
    let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: `attr` is writable storage for a pthread_mutexattr_t; init fills it.
    check(unsafe { libc::pthread_mutexattr_init(attr.as_mut_ptr()) })?;
    // SAFETY: `attr` was initialised above and is destroyed below on every path; `mutex`
    // is valid per the caller's contract.
    let result = unsafe {
        check(libc::pthread_mutexattr_setpshared(
            attr.as_mut_ptr(),
            libc::PTHREAD_PROCESS_SHARED,
        ))
        .and_then(|()| {
            check(libc::pthread_mutexattr_setrobust(
                attr.as_mut_ptr(),
                libc::PTHREAD_MUTEX_ROBUST,
            ))
        })
        .and_then(|()| {
            check(libc::pthread_mutexattr_settype(
                attr.as_mut_ptr(),
                libc::PTHREAD_MUTEX_ERRORCHECK,
            ))
        })
        .and_then(|()| check(libc::pthread_mutex_init(mutex, attr.as_ptr())))
    };
    // SAFETY: `attr` was initialised by pthread_mutexattr_init.
    unsafe { libc::pthread_mutexattr_destroy(attr.as_mut_ptr()) };
    result?;
    // Every later call checks `__kind` against KIND: make sure this glibc writes that.
    // SAFETY: per the caller's contract; nobody else uses the memory yet.
    if unsafe { word32(mutex, OFF_KIND) }.load(Ordering::Relaxed) != KIND {
        return Err(Errno::from_raw(libc::ENOTSUP));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The words glibc keeps in the mutex, and their validation.
// ---------------------------------------------------------------------------------------------

#[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
compile_error!(
    "shmkit's robust mutex validates glibc's 64-bit `struct __pthread_mutex_s` layout: \
     only 64-bit Linux with glibc is supported"
);

/// glibc's `struct __pthread_mutex_s` on 64-bit Linux (`sysdeps/nptl/bits/struct_mutex.h`),
/// the words inside a `pthread_mutex_t`. Only its field offsets are used: the words are read
/// and written one by one, atomically, because other processes write them concurrently.
/// The layout is checked against libc (size, alignment) and against what glibc writes (the
/// offsets) in this module's tests.
#[repr(C)]
#[allow(dead_code)] // never constructed: a description of the layout
pub(crate) struct RawMutex {
    /// `__lock`: the futex word: owner's thread id | `FUTEX_OWNER_DIED` | `FUTEX_WAITERS`.
    lock: u32,
    /// `__count`: recursion count (1 once locked, 0 when not-recoverable).
    count: u32,
    /// `__owner`: the owner's thread id, 0, or `PTHREAD_MUTEX_INCONSISTENT`/`NOTRECOVERABLE`.
    owner: i32,
    /// `__nusers`: incremented on lock, decremented on unlock.
    nusers: u32,
    /// `__kind`: type, robust, protocol and process-shared bits.
    kind: i32,
    /// `__spins` (adaptive mutexes only).
    spins: i16,
    /// `__elision` (elided mutexes only).
    elision: i16,
    /// `__list.__prev`: the robust-list entry locked after this one, or the thread's list head.
    prev: usize,
    /// `__list.__next`: the robust-list entry locked before this one, or the thread's list
    /// head. The thread's list points at this field (the "entry" of the mutex).
    next: usize,
}

const OFF_LOCK: usize = std::mem::offset_of!(RawMutex, lock);
const OFF_COUNT: usize = std::mem::offset_of!(RawMutex, count);
const OFF_OWNER: usize = std::mem::offset_of!(RawMutex, owner);
const OFF_KIND: usize = std::mem::offset_of!(RawMutex, kind);
const OFF_PREV: usize = std::mem::offset_of!(RawMutex, prev);
const OFF_NEXT: usize = std::mem::offset_of!(RawMutex, next);

// Layout asserts against libc: the mirror must cover exactly a `pthread_mutex_t`.
const _: () = assert!(std::mem::size_of::<RawMutex>() == MUTEX_SIZE);
const _: () = assert!(std::mem::align_of::<RawMutex>() == MUTEX_ALIGN);

/// glibc's internal `PTHREAD_MUTEX_ROBUST_NORMAL_NP` bit of `__kind` (`pthreadP.h`).
const KIND_ROBUST: u32 = 16;
/// glibc's `PTHREAD_MUTEX_PSHARED_BIT` of `__kind`.
const KIND_PSHARED: u32 = 128;
/// The `__kind` [`init_robust_shared`] makes: `PTHREAD_MUTEX_ROBUST_ERRORCHECK_NP`
/// (robust | error-checking) | `PTHREAD_MUTEX_PSHARED_BIT`, protocol none (no priority
/// inheritance or ceiling bits), no elision bits: 0x92.
pub(crate) const KIND: u32 = KIND_ROBUST | libc::PTHREAD_MUTEX_ERRORCHECK as u32 | KIND_PSHARED;

/// glibc's `PTHREAD_MUTEX_INCONSISTENT` (`INT_MAX`): `__owner` of a mutex acquired with
/// `EOWNERDEAD` and not yet marked consistent.
const OWNER_INCONSISTENT: u32 = i32::MAX as u32;
/// glibc's `PTHREAD_MUTEX_NOTRECOVERABLE` (`INT_MAX - 1`).
const OWNER_NOTRECOVERABLE: u32 = i32::MAX as u32 - 1;

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Linux's `PID_MAX_LIMIT` on 64-bit: every thread id is below it.
const PID_MAX_LIMIT: u32 = 4 * 1024 * 1024;

/// Why a mutex call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MutexError {
    /// glibc's error number.
    Sys(Errno),
    /// A word of the mutex holds a value glibc never leaves there (another process wrote
    /// it): which word, what it holds, and what happened. glibc was not called with it.
    Corrupt(String),
}

impl MutexError {
    /// glibc's error number, if that is what this is.
    pub(crate) fn raw(&self) -> Option<i32> {
        match self {
            MutexError::Sys(e) => Some(e.raw()),
            MutexError::Corrupt(_) => None,
        }
    }
}

impl From<Errno> for MutexError {
    fn from(e: Errno) -> Self {
        MutexError::Sys(e)
    }
}

/// The word at `off` of the mutex.
///
/// # Safety
/// `mutex` must be valid per the callers' contract ([`lock`]); `off` a field offset of
/// [`RawMutex`] holding a 4-byte field.
unsafe fn word32<'a>(mutex: *mut pthread_mutex_t, off: usize) -> &'a AtomicU32 {
    // SAFETY: in bounds and 4-aligned (a u32 field of the 8-aligned mutex); the memory stays
    // mapped while the caller uses the mutex; other processes may write it at any time, so
    // it is only accessed atomically here (glibc's own plain accesses are on other threads
    // or in calls this thread is not making at the same time).
    unsafe { AtomicU32::from_ptr(mutex.cast::<u8>().add(off).cast()) }
}

/// The pointer-sized word at `off` (a list pointer) of the mutex.
///
/// # Safety
/// As for [`word32`], for an 8-byte field.
unsafe fn word64<'a>(mutex: *mut pthread_mutex_t, off: usize) -> &'a AtomicUsize {
    // SAFETY: as in `word32`; the list fields are 8-aligned.
    unsafe { AtomicUsize::from_ptr(mutex.cast::<u8>().add(off).cast()) }
}

/// The robust-list entry of the mutex: the address of its `__list.__next`, which is what
/// glibc links into the thread's robust list.
fn entry(mutex: *mut pthread_mutex_t) -> usize {
    mutex as usize + OFF_NEXT
}

fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    (unsafe { libc::gettid() }) as u32
}

/// This thread's id, cached per thread.
fn this_tid() -> u32 {
    with_list(|l| l.tid).unwrap_or_else(gettid)
}

fn describe_lock(l: u32) -> String {
    let mut parts = vec![format!("thread id {}", l & FUTEX_TID_MASK)];
    if l & FUTEX_OWNER_DIED != 0 {
        parts.push("FUTEX_OWNER_DIED".into());
    }
    if l & FUTEX_WAITERS != 0 {
        parts.push("FUTEX_WAITERS".into());
    }
    format!("{l:#010x} ({})", parts.join(" | "))
}

fn describe_owner(o: u32) -> String {
    match o {
        OWNER_INCONSISTENT => format!("{o:#x} (PTHREAD_MUTEX_INCONSISTENT)"),
        OWNER_NOTRECOVERABLE => format!("{o:#x} (PTHREAD_MUTEX_NOTRECOVERABLE)"),
        _ => format!("{o}"),
    }
}

/// Checks the words glibc reads when this thread locks a mutex it does not hold
/// (`pthread_mutex_lock`, `_trylock`, `_timedlock`): `__kind`, `__lock`, `__owner` and
/// `__count` must hold values glibc itself leaves there.
///
/// # Safety
/// As for [`lock`].
unsafe fn check_for_lock(mutex: *mut pthread_mutex_t) -> Result<(), MutexError> {
    // SAFETY: per the caller's contract.
    let (kind, lock, owner, count) = unsafe {
        (
            word32(mutex, OFF_KIND).load(Ordering::Relaxed),
            word32(mutex, OFF_LOCK).load(Ordering::Relaxed),
            word32(mutex, OFF_OWNER).load(Ordering::Relaxed),
            word32(mutex, OFF_COUNT).load(Ordering::Relaxed),
        )
    };
    check_kind(kind)?;
    let tid = lock & FUTEX_TID_MASK;
    if lock & FUTEX_OWNER_DIED != 0 {
        // The kernel marks a dead owner's word FUTEX_OWNER_DIED | (FUTEX_WAITERS) and clears
        // the thread id; `__owner` is then whatever the dead owner left, so it is not checked.
        if tid != 0 {
            return Err(MutexError::Corrupt(format!(
                "__lock is {}: FUTEX_OWNER_DIED together with a thread id, which the kernel never writes",
                describe_lock(lock)
            )));
        }
    } else if tid == 0 {
        if lock != 0 {
            return Err(MutexError::Corrupt(format!(
                "__lock is {}: FUTEX_WAITERS without an owner, which glibc never leaves (lockers would sleep with nobody to wake them)",
                describe_lock(lock)
            )));
        }
        // Unlocked: glibc's unlock resets `__owner` to 0 (or NOTRECOVERABLE) before it
        // releases the word. Any other value is not one of glibc's (and with a non-robust
        // `__kind`, glibc asserts on it).
        // SAFETY: per the caller's contract.
        if owner != 0 && owner != OWNER_NOTRECOVERABLE && unsafe { owner_stays(mutex, owner) } {
            return Err(MutexError::Corrupt(format!(
                "__owner is {} while __lock is 0 (unlocked); glibc leaves 0 or PTHREAD_MUTEX_NOTRECOVERABLE there",
                describe_owner(owner)
            )));
        }
    } else if tid >= PID_MAX_LIMIT {
        return Err(MutexError::Corrupt(format!(
            "__lock is {}: no thread has an id at or above {PID_MAX_LIMIT} (PID_MAX_LIMIT)",
            describe_lock(lock)
        )));
    }
    // Held by another thread: `__owner` is in flux (set after the lock word, reset before
    // it), so it is not checked; glibc reads it only once it holds the lock.
    if count > 1 {
        return Err(MutexError::Corrupt(format!(
            "__count is {count}; glibc sets 1 on lock and 0 when not recoverable (this mutex is not recursive)"
        )));
    }
    Ok(())
}

/// Whether `__owner` really holds `owner` in an unlocked mutex, and not a value of a
/// legitimate lock or unlock in another thread: the two words are not read together, so a
/// thread that locked (lock word, then `__owner`) or unlocked (`__owner`, then lock word)
/// between the loads shows `__owner` of a held mutex next to the lock word of a free one.
/// A peer's value stays; a transient one goes: so the pair is read again, `__owner` on
/// both sides of the lock word, after giving the other thread time to finish.
///
/// # Safety
/// As for [`lock`].
unsafe fn owner_stays(mutex: *mut pthread_mutex_t, owner: u32) -> bool {
    for _ in 0..3 {
        std::thread::yield_now();
        // SAFETY: per the caller's contract.
        let (o1, l, o2) = unsafe {
            (
                word32(mutex, OFF_OWNER).load(Ordering::Acquire),
                word32(mutex, OFF_LOCK).load(Ordering::Acquire),
                word32(mutex, OFF_OWNER).load(Ordering::Acquire),
            )
        };
        if l != 0 || o1 != owner || o2 != owner {
            return false;
        }
    }
    true
}

fn check_kind(kind: u32) -> Result<(), MutexError> {
    if kind == KIND {
        Ok(())
    } else {
        Err(MutexError::Corrupt(format!(
            "__kind is {kind:#x}, not {KIND:#x} (robust, error-checking, process-shared) as created; glibc would treat it as another type of mutex"
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// This thread's robust list, as shmkit knows it.
// ---------------------------------------------------------------------------------------------

/// What this thread knows of its robust list (glibc's, in the thread's descriptor): the
/// entries of the mutexes it locked through this module, oldest first, and the list head.
///
/// glibc links a mutex in when it is acquired (`ENQUEUE_MUTEX`: `__next` = the previous
/// first entry or the head, `__prev` = the head) and out on unlock (`DEQUEUE_MUTEX`, which
/// *follows* `__next` and `__prev` and writes through them). So while this thread holds the
/// mutexes `e0 .. ek` (locked in that order) and nothing else, entry `ei`'s `__next` is
/// `e(i-1)` (the head for `e0`) and its `__prev` is `e(i+1)` (the head for `ek`): this is
/// what [`unlock`] checks before glibc follows them.
struct RobustList {
    /// This thread's id (`gettid(2)` is a system call: asked once per thread, and again in
    /// the child of a fork).
    tid: u32,
    /// The address of this thread's `struct robust_list_head` (from `get_robust_list(2)`),
    /// 0 if unknown.
    head: usize,
    /// Entries of the mutexes this thread holds through this module, oldest first.
    held: Vec<usize>,
    /// Set when the thread's list held an entry this module did not put there (a robust
    /// mutex locked by other code, or the list reset by `fork`): neighbours are unknown then,
    /// so list pointers are not checked until this module's entries are all gone.
    foreign: bool,
}

thread_local! {
    static ROBUST: RefCell<RobustList> = {
        static AT_FORK: std::sync::Once = std::sync::Once::new();
        AT_FORK.call_once(|| {
            // SAFETY: registers a plain extern "C" fn, valid for the whole process. A
            // failure (ENOMEM) leaves the copy a child inherits; see `forget_after_fork`.
            let _ = unsafe { libc::pthread_atfork(None, None, Some(forget_after_fork)) };
        });
        RefCell::new(RobustList {
            tid: gettid(),
            head: robust_list_head(),
            held: Vec::new(),
            foreign: false,
        })
    };
}

/// In the child of `fork(2)`: glibc empties the forking thread's robust list (the child
/// holds none of the parent's locks), so this module's copy of it is emptied too. Without
/// this, a guard inherited by the child would look like one of the child's own locks.
/// It allocates nothing (async-signal-safe enough for a multithreaded parent's child).
extern "C" fn forget_after_fork() {
    let _ = ROBUST.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            l.tid = gettid();
            l.held.clear();
            l.foreign = false;
        }
    });
}

/// `get_robust_list(2)` for this thread: the head glibc registered, or 0.
fn robust_list_head() -> usize {
    let mut head: *mut libc::c_void = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: pid 0 names the calling thread; both out-pointers are valid for writes. This
    // only reads the registration (set_robust_list is never called here).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0 as libc::c_long,
            &mut head as *mut *mut libc::c_void,
            &mut len as *mut libc::size_t,
        )
    };
    if rc == 0 {
        head as usize
    } else {
        0
    }
}

impl RobustList {
    /// The first entry of the thread's list (`robust_head.list`), read from glibc's thread
    /// descriptor.
    fn first(&self) -> usize {
        debug_assert!(self.head != 0);
        // SAFETY: `head` is this thread's `struct robust_list_head`, registered by glibc
        // and alive as long as the thread; its first word (`list`) is written only by glibc
        // on this thread (not during this read: this thread is here) and read by the kernel.
        unsafe { std::ptr::read_volatile(self.head as *const usize) }
    }

    /// What `first()` should be if the list holds only this module's entries.
    fn expected_first(&self) -> usize {
        self.held.last().copied().unwrap_or(self.head)
    }

    /// Notes an entry this module did not make (see `foreign`).
    fn sync_foreign(&mut self) {
        if self.head == 0 {
            return;
        }
        if self.held.is_empty() {
            self.foreign = self.first() != self.head;
        } else if self.first() != self.expected_first() {
            self.foreign = true;
        }
    }

    /// `(__prev, __next)` glibc left in `e`, or `None` if unknown.
    fn neighbours(&self, e: usize) -> Option<(usize, usize)> {
        if self.head == 0 || self.foreign {
            return None;
        }
        let i = self.held.iter().rposition(|&x| x == e)?;
        let prev = self.held.get(i + 1).copied().unwrap_or(self.head);
        let next = if i == 0 { self.head } else { self.held[i - 1] };
        Some((prev, next))
    }
}

/// Runs `f` on this thread's list; `None` while thread-locals are being destroyed.
fn with_list<R>(f: impl FnOnce(&mut RobustList) -> R) -> Option<R> {
    ROBUST
        .try_with(|l| l.try_borrow_mut().ok().map(|mut l| f(&mut l)))
        .ok()
        .flatten()
}

/// Whether this thread's robust list still holds `mutex` as far as this module knows:
/// `Some(true)` after a lock, `Some(false)` after an unlock that glibc completed, `None`
/// when unknown (no robust-list head, or thread-locals gone).
pub(crate) fn on_robust_list(mutex: *mut pthread_mutex_t) -> Option<bool> {
    let e = entry(mutex);
    with_list(|l| (l.head != 0).then(|| l.held.contains(&e))).flatten()
}

/// Runs a glibc lock call after [`check_for_lock`], then checks that an acquired mutex is
/// on this thread's robust list (glibc links it in only on its robust path, so a `__kind`
/// rewritten during the call shows here): if it is not, the lock is given back by hand and
/// the call fails with [`MutexError::Corrupt`].
///
/// # Safety
/// As for [`lock`].
unsafe fn locking(
    mutex: *mut pthread_mutex_t,
    call: impl FnOnce() -> libc::c_int,
) -> Result<(), MutexError> {
    // SAFETY: per the caller's contract.
    unsafe { check_for_lock(mutex) }?;
    let e = entry(mutex);
    let _ = with_list(|l| l.sync_foreign());
    let rc = call();
    let acquired = rc == 0 || rc == libc::EOWNERDEAD;
    if acquired {
        let linked = with_list(|l| {
            if l.head == 0 {
                return None;
            }
            let linked = l.first() == e;
            if linked {
                l.held.push(e);
            }
            Some(linked)
        })
        .flatten();
        if linked == Some(false) {
            // glibc took another type's path (no robust-list entry): undo it by hand, so
            // that the lock is not held by a thread whose death would not release it.
            // SAFETY: per the caller's contract.
            let kind = unsafe { word32(mutex, OFF_KIND) }.load(Ordering::Relaxed);
            // SAFETY: per the caller's contract; this thread holds the lock word.
            unsafe { release_by_hand(mutex) };
            return Err(MutexError::Corrupt(format!(
                "__kind was rewritten during the call (now {kind:#x}): glibc locked it as another type of mutex, without linking it into this thread's robust list; it was unlocked again"
            )));
        }
    }
    if rc == libc::EINVAL {
        // glibc's only EINVAL for these calls with a valid deadline: a `__kind` it does not
        // know, read after the check above.
        // SAFETY: per the caller's contract.
        let kind = unsafe { word32(mutex, OFF_KIND) }.load(Ordering::Relaxed);
        return Err(MutexError::Corrupt(format!(
            "__kind changed during the call (now {kind:#x}): glibc found a type of mutex it does not know (EINVAL)"
        )));
    }
    check(rc).map_err(MutexError::Sys)
}

/// Unlocks a lock word this thread holds without glibc: `__owner` 0, word 0, waiters woken.
///
/// # Safety
/// As for [`lock`], and the calling thread must hold the lock word.
unsafe fn release_by_hand(mutex: *mut pthread_mutex_t) {
    // SAFETY: per the caller's contract.
    unsafe { word32(mutex, OFF_OWNER) }.store(0, Ordering::Relaxed);
    // SAFETY: per the caller's contract.
    let word = unsafe { word32(mutex, OFF_LOCK) };
    // Release: the critical section (empty here) happens before the next owner's.
    let old = word.swap(0, Ordering::Release);
    if old & FUTEX_TID_MASK != this_tid() || old & FUTEX_WAITERS != 0 {
        let _ = super::futex::wake(word, i32::MAX);
    }
}

/// `pthread_mutex_lock(3)`, after checking the mutex's words. `Err(EOWNERDEAD)` means the
/// caller now holds a mutex whose previous owner died.
///
/// # Errors
/// [`MutexError::Corrupt`] when a word holds a value glibc never leaves there (glibc is not
/// called), or when glibc took a non-robust path because `__kind` changed during the call;
/// glibc's error otherwise.
///
/// # Safety
/// `mutex` must point at a mutex initialised by [`init_robust_shared`] (by any process) in
/// memory that stays mapped while this thread holds it.
pub(crate) unsafe fn lock(mutex: *mut pthread_mutex_t) -> Result<(), MutexError> {
    // SAFETY: per the caller's contract.
    unsafe { locking(mutex, || libc::pthread_mutex_lock(mutex)) }
}

/// `pthread_mutex_trylock(3)`, after checking the mutex's words: `Err(EBUSY)` when held.
///
/// # Errors
/// As [`lock`].
///
/// # Safety
/// As for [`lock`].
pub(crate) unsafe fn try_lock(mutex: *mut pthread_mutex_t) -> Result<(), MutexError> {
    // SAFETY: per the caller's contract.
    let result = unsafe { locking(mutex, || libc::pthread_mutex_trylock(mutex)) };
    if result == Err(MutexError::Sys(Errno::from_raw(libc::ENOTRECOVERABLE))) {
        // SAFETY: per the caller's contract.
        unsafe { release_stuck_lock_word(mutex) };
    }
    result
}

/// Works around a glibc bug (seen in 2.36): when `pthread_mutex_trylock` finds a robust
/// mutex not recoverable, it returns `ENOTRECOVERABLE` but leaves the lock word holding the
/// caller's thread id (it tests the word's value from *before* its compare-and-swap to decide
/// whether to release it). The caller's next lock would then fail with `EDEADLK` and every
/// other locker would wait forever. Here the word is released if it still holds this thread's
/// id, and waiters are woken.
///
/// # Safety
/// As for [`lock`].
unsafe fn release_stuck_lock_word(mutex: *mut pthread_mutex_t) {
    let tid = this_tid();
    // SAFETY: per the caller's contract.
    let word = unsafe { word32(mutex, OFF_LOCK) };
    let mut current = word.load(Ordering::Relaxed);
    // Only the word's owner (this thread) or a waiter setting FUTEX_WAITERS changes it while
    // it holds our id, so this ends after a few retries.
    while current & FUTEX_TID_MASK == tid {
        // Release: nothing was written under this non-lock, but keep the usual unlock order.
        match word.compare_exchange(current, 0, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => {
                if current & FUTEX_WAITERS != 0 {
                    let _ = super::futex::wake(word, i32::MAX);
                }
                return;
            }
            Err(now) => current = now,
        }
    }
}

/// `pthread_mutex_timedlock(3)`, after checking the mutex's words, with a deadline `timeout`
/// from now on `CLOCK_REALTIME` (the clock the call measures against): `Err(ETIMEDOUT)` when
/// it passes.
///
/// # Errors
/// As [`lock`].
///
/// # Safety
/// As for [`lock`].
pub(crate) unsafe fn lock_timeout(
    mutex: *mut pthread_mutex_t,
    timeout: Duration,
) -> Result<(), MutexError> {
    let deadline = realtime_after(timeout);
    // SAFETY: per the caller's contract; `deadline` is a valid timespec the call only reads.
    unsafe { locking(mutex, || libc::pthread_mutex_timedlock(mutex, &deadline)) }
}

/// `pthread_mutex_unlock(3)` of a mutex the calling thread holds (locked through this
/// module), after checking and, where needed, putting back every word glibc's unlock reads:
/// `__kind`, `__lock` (this thread's id), `__owner` (this thread's id, or
/// `PTHREAD_MUTEX_INCONSISTENT` when `inconsistent`), `__count` and the robust-list pointers
/// `__list.__prev`/`__next`, which glibc follows and writes through. This thread holds the
/// lock, so it knows what each of them must be; restoring them (instead of refusing to
/// unlock) keeps the mutex usable for everyone and this thread's robust list intact.
///
/// # Errors
/// [`MutexError::Corrupt`] naming each word that held something else (the mutex *was*
/// unlocked after they were put back, unless the message says otherwise); glibc's error
/// otherwise.
///
/// # Safety
/// As for [`lock`], and the calling thread must hold the mutex.
pub(crate) unsafe fn unlock(
    mutex: *mut pthread_mutex_t,
    inconsistent: bool,
) -> Result<(), MutexError> {
    let tid = this_tid();
    let e = entry(mutex);
    let ours = with_list(|l| (l.head != 0).then(|| l.held.contains(&e))).flatten();
    if ours == Some(false) {
        // Not locked by this thread through this module (a guard inherited across fork):
        // glibc would refuse too (EPERM); repairing its words would steal the lock.
        return Err(MutexError::Sys(Errno::from_raw(libc::EPERM)));
    }
    let mut found = Vec::new();
    let mut rc = 0;
    // A word rewritten between the check and glibc's read of it makes glibc refuse
    // (EPERM: `__lock`; EINVAL: `__kind`) before it unlinks the mutex, which would leave
    // it locked for good and linked into this thread's robust list: check and retry, a
    // bounded number of times.
    for attempt in 0..3 {
        if attempt > 0 {
            found.push(format!(
                "glibc's unlock then refused ({}): a word changed again during the call",
                Errno::from_raw(rc).name().unwrap_or("?")
            ));
        }
        // SAFETY: per the caller's contract; this thread holds the mutex.
        unsafe { put_back(mutex, tid, e, inconsistent, &mut found) };
        // SAFETY: per the caller's contract; the words glibc reads hold glibc's own values
        // (unless another process rewrites them during the call: see RobustMutex's docs).
        rc = unsafe { libc::pthread_mutex_unlock(mutex) };
        if rc != libc::EPERM && rc != libc::EINVAL {
            break;
        }
    }
    let unlinked = with_list(|l| {
        if l.head == 0 {
            return None;
        }
        let pos = l.held.iter().rposition(|&x| x == e)?;
        // glibc unlinks only on its robust path; if the entry is still first, it did not.
        let still_first = pos + 1 == l.held.len() && l.first() == e;
        if rc == 0 && !still_first {
            l.held.remove(pos);
            if l.held.is_empty() {
                l.foreign = l.first() != l.head;
            }
            Some(true)
        } else {
            Some(false)
        }
    })
    .flatten();
    if rc == 0 && unlinked == Some(false) {
        // SAFETY: per the caller's contract.
        let kind = unsafe { word32(mutex, OFF_KIND) }.load(Ordering::Relaxed);
        found.push(format!(
            "__kind changed during the call (now {kind:#x}): glibc unlocked it as another type of mutex and left it in this thread's robust list"
        ));
    }
    match (rc, found.is_empty()) {
        (0, true) => Ok(()),
        (0, false) => Err(MutexError::Corrupt(format!(
            "{}; glibc's values were put back and the mutex unlocked",
            found.join("; ")
        ))),
        (rc, true) => Err(MutexError::Sys(Errno::from_raw(rc))),
        (rc, false) => Err(MutexError::Corrupt(format!(
            "{}; the mutex is still locked by this thread ({})",
            found.join("; "),
            Errno::from_raw(rc).name().unwrap_or("an unknown error")
        ))),
    }
}

/// Checks the words glibc's unlock reads in a mutex this thread holds, and stores glibc's
/// values into those that hold anything else, noting each in `found`.
///
/// # Safety
/// As for [`unlock`].
unsafe fn put_back(
    mutex: *mut pthread_mutex_t,
    tid: u32,
    e: usize,
    inconsistent: bool,
    found: &mut Vec<String>,
) {
    // SAFETY: per the caller's contract; this thread holds the mutex, so the values stored
    // below are the ones glibc left there (the same holds for every word accessed below).
    let kind = unsafe { word32(mutex, OFF_KIND) };
    let k = kind.load(Ordering::Relaxed);
    if k != KIND {
        found.push(format!("__kind was {k:#x}"));
        kind.store(KIND, Ordering::Relaxed);
    }
    // SAFETY: as above.
    let lock = unsafe { word32(mutex, OFF_LOCK) };
    let l = lock.load(Ordering::Relaxed);
    if l & !FUTEX_WAITERS != tid {
        found.push(format!("__lock was {}", describe_lock(l)));
        // With FUTEX_WAITERS, so that glibc's unlock wakes whoever waits.
        lock.store(tid | FUTEX_WAITERS, Ordering::Relaxed);
    }
    // SAFETY: as above.
    let owner = unsafe { word32(mutex, OFF_OWNER) };
    let want_owner = if inconsistent {
        OWNER_INCONSISTENT
    } else {
        tid
    };
    let o = owner.load(Ordering::Relaxed);
    if o != want_owner {
        found.push(format!("__owner was {}", describe_owner(o)));
        owner.store(want_owner, Ordering::Relaxed);
    }
    // SAFETY: as above.
    let count = unsafe { word32(mutex, OFF_COUNT) };
    let c = count.load(Ordering::Relaxed);
    if c != 1 {
        found.push(format!("__count was {c}"));
        count.store(1, Ordering::Relaxed);
    }
    let neighbours = with_list(|l| {
        l.sync_foreign();
        l.neighbours(e)
    })
    .flatten();
    // Unknown neighbours (see RobustList::foreign): glibc follows the pointers as they are;
    // outside the guarantee, documented on RobustMutex.
    if let Some((want_prev, want_next)) = neighbours {
        // SAFETY: as above.
        let (prev, next) = unsafe { (word64(mutex, OFF_PREV), word64(mutex, OFF_NEXT)) };
        let p = prev.load(Ordering::Relaxed);
        if p != want_prev {
            found.push(format!(
                "__list.__prev was {p:#x} (this thread's robust list says {want_prev:#x})"
            ));
            prev.store(want_prev, Ordering::Relaxed);
        }
        let n = next.load(Ordering::Relaxed);
        if n != want_next {
            found.push(format!(
                "__list.__next was {n:#x} (this thread's robust list says {want_next:#x})"
            ));
            next.store(want_next, Ordering::Relaxed);
        }
    }
}

/// `pthread_mutex_consistent(3)`: marks a mutex acquired with `EOWNERDEAD` as consistent,
/// after checking the words glibc reads (`__kind`, and `__owner` which must be
/// `PTHREAD_MUTEX_INCONSISTENT`) and that `__lock` names this thread.
///
/// # Errors
/// [`MutexError::Corrupt`] (glibc is not called, the mutex stays inconsistent); glibc's
/// error otherwise.
///
/// # Safety
/// As for [`lock`], and the calling thread must hold the mutex.
pub(crate) unsafe fn consistent(mutex: *mut pthread_mutex_t) -> Result<(), MutexError> {
    // SAFETY: per the caller's contract.
    let (kind, lock, owner) = unsafe {
        (
            word32(mutex, OFF_KIND).load(Ordering::Relaxed),
            word32(mutex, OFF_LOCK).load(Ordering::Relaxed),
            word32(mutex, OFF_OWNER).load(Ordering::Relaxed),
        )
    };
    check_kind(kind)?;
    if lock & !FUTEX_WAITERS != this_tid() {
        return Err(MutexError::Corrupt(format!(
            "__lock is {} while this thread holds the mutex",
            describe_lock(lock)
        )));
    }
    if owner != OWNER_INCONSISTENT {
        return Err(MutexError::Corrupt(format!(
            "__owner is {} while the mutex is inconsistent; glibc leaves PTHREAD_MUTEX_INCONSISTENT there",
            describe_owner(owner)
        )));
    }
    // SAFETY: per the caller's contract.
    match unsafe { libc::pthread_mutex_consistent(mutex) } {
        0 => Ok(()),
        // Its only error: `__kind` or `__owner` changed after the check above.
        libc::EINVAL => Err(MutexError::Corrupt(
            "__kind or __owner changed during pthread_mutex_consistent (EINVAL)".into(),
        )),
        rc => Err(MutexError::Sys(Errno::from_raw(rc))),
    }
}

/// `CLOCK_REALTIME` now plus `timeout`, saturating.
fn realtime_after(timeout: Duration) -> libc::timespec {
    let mut now = MaybeUninit::<libc::timespec>::zeroed();
    // SAFETY: `now` is writable storage for a timespec (CLOCK_REALTIME always exists, and
    // on a failure the zeroes stay, which is a valid timespec).
    let now = unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, now.as_mut_ptr());
        now.assume_init()
    };
    let secs = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
    let mut sec = (now.tv_sec as i64).saturating_add(secs);
    let mut nsec = now.tv_nsec as i64 + i64::from(timeout.subsec_nanos());
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        sec = sec.saturating_add(1);
    }
    libc::timespec {
        tv_sec: libc::time_t::try_from(sec).unwrap_or(libc::time_t::MAX),
        tv_nsec: nsec as _,
    }
}

pub(crate) use libc::{pthread_mutex_t as PthreadMutex, EBUSY, EOWNERDEAD};

#[cfg(test)]
mod tests {
    use super::*;

    /// A `pthread_mutex_t` on the heap, initialised robust and process-shared.
    struct Heap(Box<MaybeUninit<pthread_mutex_t>>);

    impl Heap {
        fn new() -> Heap {
            let mut m = Box::new(MaybeUninit::<pthread_mutex_t>::zeroed());
            // SAFETY: fresh, aligned, private memory.
            unsafe { init_robust_shared(m.as_mut_ptr()) }.unwrap();
            Heap(m)
        }
        fn ptr(&mut self) -> *mut pthread_mutex_t {
            self.0.as_mut_ptr()
        }
        fn get(&mut self, off: usize) -> u32 {
            // SAFETY: the mutex is alive and aligned.
            unsafe { word32(self.ptr(), off) }.load(Ordering::Relaxed)
        }
        fn set(&mut self, off: usize, v: u32) {
            // SAFETY: the mutex is alive and aligned.
            unsafe { word32(self.ptr(), off) }.store(v, Ordering::Relaxed)
        }
        fn list(&mut self) -> (usize, usize) {
            // SAFETY: the mutex is alive and aligned.
            unsafe {
                (
                    word64(self.ptr(), OFF_PREV).load(Ordering::Relaxed),
                    word64(self.ptr(), OFF_NEXT).load(Ordering::Relaxed),
                )
            }
        }
    }

    fn corrupt(r: Result<(), MutexError>) -> String {
        match r {
            Err(MutexError::Corrupt(what)) => what,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    /// The mirror of `struct __pthread_mutex_s` against libc and against what glibc writes
    /// at each offset.
    #[test]
    fn raw_mutex_layout_matches_glibc() {
        assert_eq!(std::mem::size_of::<RawMutex>(), 40);
        assert_eq!(
            std::mem::size_of::<RawMutex>(),
            std::mem::size_of::<pthread_mutex_t>()
        );
        assert_eq!(
            std::mem::align_of::<RawMutex>(),
            std::mem::align_of::<pthread_mutex_t>()
        );
        assert_eq!((OFF_LOCK, OFF_COUNT, OFF_OWNER), (0, 4, 8));
        assert_eq!((OFF_KIND, OFF_PREV, OFF_NEXT), (16, 24, 32));
        let head = robust_list_head();
        assert_ne!(head, 0, "glibc registers a robust list for every thread");
        let tid = this_tid();
        let (mut a, mut b) = (Heap::new(), Heap::new());
        assert_eq!(a.get(OFF_KIND), KIND);
        assert_eq!(
            (a.get(OFF_LOCK), a.get(OFF_OWNER), a.list()),
            (0, 0, (0, 0))
        );
        // SAFETY: a and b are initialised, alive, and this thread unlocks what it locks.
        unsafe {
            lock(a.ptr()).unwrap();
            assert_eq!(
                (a.get(OFF_LOCK), a.get(OFF_OWNER), a.get(OFF_COUNT)),
                (tid, tid, 1)
            );
            assert_eq!(
                a.list(),
                (head, head),
                "first entry: both neighbours are the head"
            );
            lock(b.ptr()).unwrap();
            assert_eq!(b.list(), (head, entry(a.ptr())));
            assert_eq!(a.list(), (entry(b.ptr()), head));
            assert_eq!(on_robust_list(a.ptr()), Some(true));
            // Out of order: a first.
            unlock(a.ptr(), false).unwrap();
            assert_eq!(a.list(), (0, 0));
            assert_eq!((a.get(OFF_LOCK), a.get(OFF_OWNER)), (0, 0));
            assert_eq!(b.list(), (head, head));
            assert_eq!(on_robust_list(a.ptr()), Some(false));
            unlock(b.ptr(), false).unwrap();
            // SAFETY: the head is this thread's.
            assert_eq!(std::ptr::read_volatile(head as *const usize), head);
        }
    }

    #[test]
    fn words_glibc_never_leaves_are_corrupt_before_any_lock() {
        let mut m = Heap::new();
        let cases: [(usize, u32, &str); 7] = [
            (OFF_KIND, 0, "__kind is 0x0"),
            (OFF_KIND, KIND & !KIND_PSHARED, "__kind is 0x12"),
            (OFF_KIND, KIND | 64, "__kind is 0xd2"),
            (OFF_OWNER, 4242, "__owner is 4242 while __lock is 0"),
            (OFF_LOCK, FUTEX_WAITERS, "FUTEX_WAITERS without an owner"),
            (OFF_LOCK, FUTEX_OWNER_DIED | 77, "FUTEX_OWNER_DIED together"),
            (OFF_LOCK, 0x3fff_ffff, "PID_MAX_LIMIT"),
        ];
        for (off, value, says) in cases {
            m.set(off, value);
            let p = m.ptr();
            // SAFETY: the mutex is initialised and alive; nothing is acquired on Corrupt.
            unsafe {
                for what in [
                    corrupt(lock(p)),
                    corrupt(try_lock(p)),
                    corrupt(lock_timeout(p, Duration::ZERO)),
                ] {
                    assert!(what.contains(says), "{off}={value:#x}: {what}");
                }
            }
            m = Heap::new();
        }
        m.set(OFF_COUNT, 2);
        // SAFETY: as above.
        assert!(corrupt(unsafe { lock(m.ptr()) }).contains("__count is 2"));
    }

    #[test]
    fn unlock_puts_back_what_glibc_left_and_unlocks() {
        let mut m = Heap::new();
        let head = robust_list_head();
        let tid = this_tid();
        let p = m.ptr();
        // SAFETY: initialised and alive; this thread holds it between lock and unlock.
        unsafe {
            lock(p).unwrap();
            m.set(OFF_KIND, 0);
            m.set(OFF_OWNER, 4242);
            word64(p, OFF_NEXT).store(0x10, Ordering::Relaxed);
            word64(p, OFF_PREV).store(0, Ordering::Relaxed);
            let what = corrupt(unlock(p, false));
            for says in [
                "__kind was 0x0",
                "__owner was 4242",
                "__list.__prev was 0x0",
                "__list.__next was 0x10",
                "unlocked",
            ] {
                assert!(what.contains(says), "{what}");
            }
            assert_eq!(
                (m.get(OFF_LOCK), m.get(OFF_OWNER), m.get(OFF_KIND)),
                (0, 0, KIND)
            );
            assert_eq!(on_robust_list(p), Some(false));
            assert_eq!(std::ptr::read_volatile(head as *const usize), head);
            // Usable again.
            lock(p).unwrap();
            assert_eq!(m.get(OFF_LOCK), tid);
            unlock(p, false).unwrap();
        }
    }
}
