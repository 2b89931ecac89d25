//! `futex(2)`: `FUTEX_WAIT` and `FUTEX_WAKE` on words in shared memory.
//!
//! The operations are the *shared* ones (no `FUTEX_PRIVATE_FLAG`): the kernel keys the wait
//! queue on the physical page and offset, so processes that map the same segment at
//! different addresses meet on the same queue. The private variants key on the address in
//! one process and would never see a wake from another process.

use super::Errno;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// `futex(word, FUTEX_WAIT, expected, timeout)`: sleeps while `*word == expected`, until
/// woken, interrupted by a signal, or `timeout` (relative, measured on `CLOCK_MONOTONIC`)
/// runs out.
///
/// `Err(EAGAIN)`: the word did not hold `expected` on entry; `Err(ETIMEDOUT)`: the time ran
/// out; `Err(EINTR)`: a signal arrived. Spurious returns with `Ok(())` are possible.
pub(crate) fn wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) -> Result<(), Errno> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: t.subsec_nanos() as _,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 4-byte atomic for the duration of the call (the
    // borrow guarantees it); the kernel only reads it. `ts_ptr` is null or points at a
    // timespec on this stack frame, which the kernel only reads.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `futex(word, FUTEX_WAKE, count)`: wakes up to `count` waiters; returns how many woke.
pub(crate) fn wake(word: &AtomicU32, count: i32) -> Result<usize, Errno> {
    // SAFETY: `word` is a live, aligned 4-byte atomic; FUTEX_WAKE does not even read it,
    // it only uses the address to find the wait queue.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            count,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret as usize)
    }
}
