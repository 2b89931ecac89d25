//! The kernel's limits on semaphores and their current use.

use crate::error::{Error, Result};
use crate::ipc::listing::non_negative;
use crate::sys;

/// The kernel's limits on semaphores (`semctl(IPC_INFO)`, the values of
/// `/proc/sys/kernel/sem`).
///
/// # References
/// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html), `IPC_INFO`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemLimits {
    /// The most semaphores in one set (`SEMMSL`).
    pub semmsl: u64,
    /// The most semaphores on the system (`SEMMNS`).
    pub semmns: u64,
    /// The most operations in one `semop` call (`SEMOPM`).
    pub semopm: u64,
    /// The most sets on the system (`SEMMNI`).
    pub semmni: u64,
    /// The largest value of a semaphore (`SEMVMX`).
    pub semvmx: u64,
    /// The largest undo adjustment (`SEMAEM`).
    pub semaem: u64,
}

/// The system's current use of semaphores (`semctl(SEM_INFO)`).
///
/// # References
/// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html), `SEM_INFO`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemUsage {
    /// Sets that exist (`semusz`).
    pub sets: u64,
    /// Semaphores in all sets (`semaem`).
    pub semaphores: u64,
    /// The highest index in use in the kernel's table (the kernel reports 0 when the table
    /// is empty).
    pub max_index: i32,
}

/// The limits, from `semctl(IPC_INFO)`.
///
/// # Errors
/// The `semctl` failure (none is expected on Linux).
#[doc(alias = "IPC_INFO")]
pub fn sem_limits() -> Result<SemLimits> {
    let (_, i) = sys::sem::info(sys::ipc::IPC_INFO)
        .map_err(|e| Error::sys("semctl", "0, IPC_INFO".into(), e))?;
    Ok(SemLimits {
        semmsl: non_negative(i.semmsl),
        semmns: non_negative(i.semmns),
        semopm: non_negative(i.semopm),
        semmni: non_negative(i.semmni),
        semvmx: non_negative(i.semvmx),
        semaem: non_negative(i.semaem),
    })
}

/// The usage, from `semctl(SEM_INFO)`.
///
/// # Errors
/// The `semctl` failure (none is expected on Linux).
#[doc(alias = "SEM_INFO")]
pub fn sem_usage() -> Result<SemUsage> {
    let (max_index, i) = sys::sem::info(sys::sem::SEM_INFO)
        .map_err(|e| Error::sys("semctl", "0, SEM_INFO".into(), e))?;
    Ok(SemUsage {
        sets: non_negative(i.semusz),
        semaphores: non_negative(i.semaem),
        max_index,
    })
}
