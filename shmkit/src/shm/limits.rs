//! The kernel's limits on shared memory and its current use, and the page size they count in.
//!
//! # References
//! - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html), `IPC_INFO`,
//!   `SHM_INFO`

use crate::error::{Error, Result};
use crate::sys;

/// The kernel's limits on shared memory (`shmctl(IPC_INFO)`, the values of
/// `/proc/sys/kernel/shm{max,all,mni}`).
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShmLimits {
    /// The largest segment, in bytes (`SHMMAX`).
    pub shmmax: u64,
    /// The smallest segment, in bytes (`SHMMIN`, always 1 on Linux).
    pub shmmin: u64,
    /// The most segments on the system (`SHMMNI`).
    pub shmmni: u64,
    /// The most attachments per process (`SHMSEG`; Linux has no such limit and reports
    /// `SHMMNI`).
    pub shmseg: u64,
    /// The most shared memory on the system, in pages (`SHMALL`).
    pub shmall: u64,
}

/// The system's current use of shared memory (`shmctl(SHM_INFO)`).
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShmUsage {
    /// Segments that exist (`used_ids`).
    pub segments: u64,
    /// Pages allocated to segments (`shm_tot`).
    pub pages: u64,
    /// Pages resident in memory (`shm_rss`).
    pub resident_pages: u64,
    /// Pages swapped out (`shm_swp`).
    pub swapped_pages: u64,
    /// Swap attempts (`swap_attempts`; 0 on modern kernels).
    pub swap_attempts: u64,
    /// Successful swaps (`swap_successes`; 0 on modern kernels).
    pub swap_successes: u64,
    /// The highest index in use in the kernel's table (the kernel reports 0 when the table
    /// is empty).
    pub max_index: i32,
}

/// The limits, from `shmctl(IPC_INFO)`.
///
/// # Errors
/// The `shmctl` failure (none is expected on Linux).
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[doc(alias = "IPC_INFO")]
pub fn shm_limits() -> Result<ShmLimits> {
    let (_, info) =
        sys::shm::ipc_info().map_err(|e| Error::sys("shmctl", "0, IPC_INFO".into(), e))?;
    Ok(ShmLimits {
        shmmax: info.shmmax,
        shmmin: info.shmmin,
        shmmni: info.shmmni,
        shmseg: info.shmseg,
        shmall: info.shmall,
    })
}

/// The usage, from `shmctl(SHM_INFO)`.
///
/// # Errors
/// The `shmctl` failure (none is expected on Linux).
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[doc(alias = "SHM_INFO")]
pub fn shm_usage() -> Result<ShmUsage> {
    let (max_index, info) =
        sys::shm::shm_info().map_err(|e| Error::sys("shmctl", "0, SHM_INFO".into(), e))?;
    Ok(ShmUsage {
        segments: u64::try_from(info.used_ids).unwrap_or(0),
        pages: info.shm_tot,
        resident_pages: info.shm_rss,
        swapped_pages: info.shm_swp,
        swap_attempts: info.swap_attempts,
        swap_successes: info.swap_successes,
        max_index,
    })
}

/// The size of a memory page in bytes (`sysconf(_SC_PAGESIZE)`): the unit of
/// [`ShmLimits::shmall`] and [`ShmUsage::pages`].
///
/// # References
/// - [`sysconf(3)`](https://man7.org/linux/man-pages/man3/sysconf.3.html)
pub fn page_size() -> usize {
    sys::process::page_size()
}
