//! `sched_setaffinity(2)`, `sched_getaffinity(2)` and `getrusage(2)`: which CPUs this thread
//! runs on, and how much CPU time this process has used.

use super::conv::cvt;
use super::Errno;
use std::mem::MaybeUninit;
use std::time::Duration;

/// The number of CPUs a `cpu_set_t` can name (`CPU_SETSIZE`).
pub(crate) const CPU_SETSIZE: usize = libc::CPU_SETSIZE as usize;

/// `sched_setaffinity(0, {cpu})`: the calling thread runs on `cpu` only.
pub(crate) fn pin_to_cpu(cpu: usize) -> Result<(), Errno> {
    if cpu >= CPU_SETSIZE {
        return Err(Errno::from_raw(libc::EINVAL));
    }
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes bit `cpu` of `set`, which is in range (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; the kernel only reads it.
    cvt(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) })
        .map(drop)
}

/// `sched_getaffinity(0)`: the CPUs the calling thread may run on, in increasing order.
pub(crate) fn allowed_cpus() -> Result<Vec<usize>, Errno> {
    let mut set = MaybeUninit::<libc::cpu_set_t>::zeroed();
    // SAFETY: `set` is writable storage for a cpu_set_t of the size passed.
    cvt(unsafe {
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set.as_mut_ptr())
    })?;
    // SAFETY: zero-initialised, then filled by the kernel: a valid cpu_set_t either way.
    let set = unsafe { set.assume_init() };
    Ok((0..CPU_SETSIZE)
        // SAFETY: CPU_ISSET reads bit `cpu` of a valid set; `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// `getrusage(RUSAGE_SELF)`: the user and system CPU time of the calling process (all its
/// threads), as `(user, system)`.
pub(crate) fn cpu_time() -> Result<(Duration, Duration), Errno> {
    let mut usage = MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is writable storage for a struct rusage.
    cvt(unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) })?;
    // SAFETY: getrusage succeeded and filled `usage`.
    let usage = unsafe { usage.assume_init() };
    let time = |tv: libc::timeval| {
        Duration::from_secs(u64::try_from(tv.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(tv.tv_usec).unwrap_or(0))
    };
    Ok((time(usage.ru_utime), time(usage.ru_stime)))
}
