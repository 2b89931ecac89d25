//! [`SemStat`] and [`SemId`]: what the kernel knows about a semaphore set.

use crate::key::Key;
use crate::sys::sem::semid_ds;

crate::ipc::id::ipc_id! {
    /// The kernel's identifier of a semaphore set (`semid`).
    ///
    /// # References
    /// - [`semget(2)`](https://man7.org/linux/man-pages/man2/semget.2.html)
    #[doc(alias = "semid")]
    SemId
}

/// Everything the kernel knows about a semaphore set (`struct semid_ds`, or a row of
/// `/proc/sysvipc/sem`). Times are seconds since the epoch, 0 for never.
///
/// # References
/// - [`semctl(2)`](https://man7.org/linux/man-pages/man2/semctl.2.html), `IPC_STAT`
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemStat {
    /// The key (`sem_perm.__key`).
    pub key: Key,
    /// The id.
    pub id: SemId,
    /// The owner's user id.
    pub uid: u32,
    /// The owner's group id.
    pub gid: u32,
    /// The creator's user id.
    pub cuid: u32,
    /// The creator's group id.
    pub cgid: u32,
    /// The permission bits.
    pub mode: u32,
    /// How many semaphores the set has (`sem_nsems`).
    pub nsems: usize,
    /// The last `semop` (`sem_otime`).
    pub otime: i64,
    /// The creation or last change (`sem_ctime`).
    pub ctime: i64,
}

impl SemStat {
    // The field types are aliases that differ across targets (u32 on 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn from_ds(id: SemId, ds: &semid_ds) -> SemStat {
        SemStat {
            key: Key::from_raw(ds.sem_perm.__key),
            id,
            uid: ds.sem_perm.uid,
            gid: ds.sem_perm.gid,
            cuid: ds.sem_perm.cuid,
            cgid: ds.sem_perm.cgid,
            mode: u32::from(ds.sem_perm.mode) & 0o777,
            nsems: ds.sem_nsems as usize,
            otime: ds.sem_otime as i64,
            ctime: ds.sem_ctime as i64,
        }
    }
}
