//! Raw futexes on words that may live in shared memory.

use crate::error::{Error, Result};
use crate::sys;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `word` holds `expected`, until [`futex_wake`] wakes it or `timeout` (if
/// any) runs out: `futex(2)` `FUTEX_WAIT` without `FUTEX_PRIVATE_FLAG`, so a word in a
/// shared segment works between processes that map it at different addresses.
///
/// Returns `Ok(())` when woken, when `word` did not hold `expected` on entry (`EAGAIN`),
/// and when a signal interrupted the sleep (`EINTR`); as with every futex, the caller
/// checks the word again, since wake-ups can be spurious.
///
/// # Errors
/// `ETIMEDOUT` ([`std::io::ErrorKind::TimedOut`]) when `timeout` ran out.
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
/// - Ulrich Drepper, "Futexes Are Tricky" (2011)
#[doc(alias = "FUTEX_WAIT")]
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Result<()> {
    match sys::futex::wait(word, expected, timeout) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw(), libc::EAGAIN | libc::EINTR) => Ok(()),
        Err(e) => Err(Error::sys(
            "futex",
            format!("FUTEX_WAIT, expected={expected}, timeout={timeout:?}"),
            e,
        )),
    }
}

/// Wakes up to `count` threads or processes sleeping in [`futex_wait`] on `word`
/// (`futex(2)` `FUTEX_WAKE`, shared); returns how many it woke.
///
/// # Errors
/// The errno of `futex` (none is expected for a mapped, aligned word).
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
#[doc(alias = "FUTEX_WAKE")]
pub fn futex_wake(word: &AtomicU32, count: u32) -> Result<usize> {
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    sys::futex::wake(word, count)
        .map_err(|e| Error::sys("futex", format!("FUTEX_WAKE, count={count}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::sync::atomic::Ordering;

    #[test]
    fn futex_wait_returns_at_once_for_a_changed_word_and_times_out_otherwise() {
        let word = AtomicU32::new(7);
        futex_wait(&word, 6, None).unwrap();
        let err = futex_wait(&word, 7, Some(Duration::from_millis(1))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(err.raw_os_error(), libc::ETIMEDOUT);
        assert_eq!(futex_wake(&word, 1).unwrap(), 0);
    }

    #[test]
    fn futex_wake_wakes_a_waiting_thread() {
        let word = std::sync::Arc::new(AtomicU32::new(0));
        let waiter = {
            let word = std::sync::Arc::clone(&word);
            std::thread::spawn(move || {
                while word.load(Ordering::Acquire) == 0 {
                    futex_wait(&word, 0, None).unwrap();
                }
            })
        };
        word.store(1, Ordering::Release);
        futex_wake(&word, 1).unwrap();
        waiter.join().unwrap();
    }
}
