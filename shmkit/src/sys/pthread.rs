//! Robust, process-shared `pthread_mutex_t`: the glibc calls behind
//! [`RobustMutex`](crate::sync::RobustMutex).
//!
//! The functions take a raw pointer to a `pthread_mutex_t` inside a mapped segment and
//! return glibc's error number as an [`Errno`] (pthread functions return the error instead of
//! setting `errno`).
//!
//! This module never calls `set_robust_list(2)`: glibc registers each thread's robust list
//! with the kernel itself, and registering another one would silently replace glibc's and
//! break its owner-died recovery.

use super::Errno;
use libc::pthread_mutex_t;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};
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
    result
}

/// `pthread_mutex_lock(3)`. `Err(EOWNERDEAD)` means the caller now holds a mutex whose
/// previous owner died.
///
/// # Safety
/// `mutex` must point at a mutex initialised by [`init_robust_shared`] (by any process) in
/// memory that stays mapped while this thread holds it.
pub(crate) unsafe fn lock(mutex: *mut pthread_mutex_t) -> Result<(), Errno> {
    // SAFETY: per the caller's contract.
    check(unsafe { libc::pthread_mutex_lock(mutex) })
}

/// `pthread_mutex_trylock(3)`: `Err(EBUSY)` when held.
///
/// # Safety
/// As for [`lock`].
pub(crate) unsafe fn try_lock(mutex: *mut pthread_mutex_t) -> Result<(), Errno> {
    // SAFETY: per the caller's contract.
    let result = check(unsafe { libc::pthread_mutex_trylock(mutex) });
    if result == Err(Errno::from_raw(libc::ENOTRECOVERABLE)) {
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
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() } as u32;
    // SAFETY: glibc's pthread_mutex_t starts with its `int __lock` futex word on every
    // architecture; the pointer is valid and aligned per the caller's contract, and other
    // processes access that word atomically only.
    let word = unsafe { AtomicU32::from_ptr(mutex.cast()) };
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

/// `pthread_mutex_timedlock(3)` with a deadline `timeout` from now on `CLOCK_REALTIME`
/// (the clock the call measures against): `Err(ETIMEDOUT)` when it passes.
///
/// # Safety
/// As for [`lock`].
pub(crate) unsafe fn lock_timeout(
    mutex: *mut pthread_mutex_t,
    timeout: Duration,
) -> Result<(), Errno> {
    let deadline = realtime_after(timeout);
    // SAFETY: per the caller's contract; `deadline` is a valid timespec the call only reads.
    check(unsafe { libc::pthread_mutex_timedlock(mutex, &deadline) })
}

/// `pthread_mutex_unlock(3)` of a mutex the calling thread holds.
///
/// `EPERM` then means that another process overwrote the lock word while this thread held
/// the lock. glibc returns before taking the mutex off this thread's robust list, which would
/// leave a dangling entry there; so the word is given back this thread's id (with
/// `FUTEX_WAITERS`, so that glibc wakes whoever waits) and the unlock is retried once. The
/// `EPERM` is still reported.
///
/// # Safety
/// As for [`lock`], and the calling thread must hold the mutex.
pub(crate) unsafe fn unlock(mutex: *mut pthread_mutex_t) -> Result<(), Errno> {
    // SAFETY: per the caller's contract.
    let result = check(unsafe { libc::pthread_mutex_unlock(mutex) });
    if result == Err(Errno::from_raw(libc::EPERM)) {
        // SAFETY: gettid takes no arguments and cannot fail.
        let tid = unsafe { libc::gettid() } as u32;
        // SAFETY: glibc's pthread_mutex_t starts with its `int __lock` futex word; the
        // pointer is valid and aligned per the caller's contract; processes access that word
        // atomically only.
        let word = unsafe { AtomicU32::from_ptr(mutex.cast()) };
        word.store(tid | FUTEX_WAITERS, Ordering::Relaxed);
        // SAFETY: per the caller's contract; the lock word says this thread holds it again.
        let _ = unsafe { libc::pthread_mutex_unlock(mutex) };
    }
    result
}

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// `pthread_mutex_consistent(3)`: marks a mutex acquired with `EOWNERDEAD` as consistent.
///
/// # Safety
/// As for [`lock`].
pub(crate) unsafe fn consistent(mutex: *mut pthread_mutex_t) -> Result<(), Errno> {
    // SAFETY: per the caller's contract.
    check(unsafe { libc::pthread_mutex_consistent(mutex) })
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
