//! CPUs: pinning a thread to one, the CPUs it may use, and the CPU time used.

use crate::error::{Error, Result};
use crate::sys;
use std::time::Duration;

/// Runs the calling thread on CPU `cpu` only (`sched_setaffinity(2)` with a one-CPU set,
/// for the calling thread). Threads it starts afterwards inherit the setting.
///
/// # Errors
/// `EINVAL` ([`std::io::ErrorKind::InvalidInput`]) when `cpu` is not among the CPUs this
/// thread may use (see [`allowed_cpus`]) or beyond `CPU_SETSIZE`.
///
/// # References
/// - [`sched_setaffinity(2)`](https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html)
#[doc(alias = "sched_setaffinity")]
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    sys::sched::pin_to_cpu(cpu)
        .map_err(|e| Error::sys("sched_setaffinity", format!("cpu={cpu}"), e))
}

/// The CPUs the calling thread may run on (its affinity mask, `sched_getaffinity(2)`),
/// in increasing order.
///
/// # Errors
/// The errno of `sched_getaffinity` (none is expected for the calling thread).
///
/// # References
/// - [`sched_getaffinity(2)`](https://man7.org/linux/man-pages/man2/sched_getaffinity.2.html)
#[doc(alias = "sched_getaffinity")]
pub fn allowed_cpus() -> Result<Vec<usize>> {
    sys::sched::allowed_cpus().map_err(|e| Error::sys("sched_getaffinity", "pid=0".to_owned(), e))
}

/// The CPU time this process has used so far, user plus system, all threads
/// (`getrusage(RUSAGE_SELF)`). The kernel accounts it in ticks or finer, depending on its
/// configuration.
///
/// # Errors
/// The errno of `getrusage` (none is expected).
///
/// # References
/// - [`getrusage(2)`](https://man7.org/linux/man-pages/man2/getrusage.2.html)
#[doc(alias = "getrusage")]
pub fn cpu_time() -> Result<Duration> {
    let (user, system) =
        sys::sched::cpu_time().map_err(|e| Error::sys("getrusage", "RUSAGE_SELF".to_owned(), e))?;
    Ok(user + system)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn pinning_to_an_allowed_cpu_keeps_the_thread_there() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        let last = *cpus.last().unwrap();
        // A thread of its own, so the test harness's other threads keep their mask.
        std::thread::spawn(move || {
            pin_to_cpu(last).unwrap();
            assert_eq!(allowed_cpus().unwrap(), vec![last]);
            let err = pin_to_cpu(sys::sched::CPU_SETSIZE).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert_eq!(err.raw_os_error(), libc::EINVAL);
            assert_eq!(err.call(), "sched_setaffinity");
            assert_eq!(err.context(), format!("cpu={}", sys::sched::CPU_SETSIZE));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_time().unwrap();
        let mut x = 0u64;
        // Busy work until the kernel has accounted some of it (a tick at most).
        while cpu_time().unwrap() == before {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_time().unwrap() > before);
    }
}
