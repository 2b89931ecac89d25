//! [`SegmentStat`] and [`ShmId`]: what the kernel knows about a segment.

use crate::key::Key;
use crate::sys;
use crate::sys::shm::shmid_ds;

crate::ipc::id::ipc_id! {
    /// The kernel's identifier of a segment (`shmid`), as `shmget` returns it.
    ///
    /// Unlike a [`Key`], an id is chosen by the kernel and may be reused after the segment is
    /// destroyed.
    ///
    /// # References
    /// - [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmid")]
    ShmId
}

/// Everything the kernel knows about a segment: `struct shmid_ds` from `IPC_STAT`, or a
/// row of `/proc/sysvipc/shm`.
///
/// Times are seconds since the Unix epoch, 0 when the event never happened.
///
/// # References
/// - [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html), `IPC_STAT`
/// - [`proc_sysvipc(5)`](https://man7.org/linux/man-pages/man5/proc_sysvipc.5.html)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentStat {
    /// The key (`shm_perm.__key`); [`Key::PRIVATE`] once the segment is marked for removal.
    pub key: Key,
    /// The id.
    pub id: ShmId,
    /// The owner's user id (`shm_perm.uid`).
    pub uid: u32,
    /// The owner's group id (`shm_perm.gid`).
    pub gid: u32,
    /// The creator's user id (`shm_perm.cuid`).
    pub cuid: u32,
    /// The creator's group id (`shm_perm.cgid`).
    pub cgid: u32,
    /// The permission bits (`shm_perm.mode & 0o777`).
    pub mode: u32,
    /// The size in bytes (`shm_segsz`), as asked for at creation.
    pub size: usize,
    /// The last `shmat` (`shm_atime`).
    pub atime: i64,
    /// The last `shmdt` (`shm_dtime`).
    pub dtime: i64,
    /// The creation or last `IPC_SET` (`shm_ctime`).
    pub ctime: i64,
    /// The creator's pid (`shm_cpid`).
    pub cpid: i32,
    /// The pid of the last `shmat`/`shmdt` (`shm_lpid`).
    pub lpid: i32,
    /// How many attachments exist (`shm_nattch`).
    pub nattch: u64,
    /// Marked for destruction (`SHM_DEST`): removed while still attached.
    pub dest: bool,
    /// Locked in memory (`SHM_LOCKED`, after `SHM_LOCK`).
    pub locked: bool,
    /// Resident bytes, when the source tells (`/proc/sysvipc/shm` does; `IPC_STAT` does not).
    pub rss: Option<u64>,
    /// Swapped-out bytes, when the source tells.
    pub swap: Option<u64>,
}

impl SegmentStat {
    pub(crate) fn from_ds(id: ShmId, ds: &shmid_ds) -> SegmentStat {
        let raw_mode = u32::from(ds.shm_perm.mode);
        SegmentStat {
            key: Key::from_raw(ds.shm_perm.__key),
            id,
            uid: ds.shm_perm.uid,
            gid: ds.shm_perm.gid,
            cuid: ds.shm_perm.cuid,
            cgid: ds.shm_perm.cgid,
            mode: raw_mode & 0o777,
            size: ds.shm_segsz,
            atime: ds.shm_atime,
            dtime: ds.shm_dtime,
            ctime: ds.shm_ctime,
            cpid: ds.shm_cpid,
            lpid: ds.shm_lpid,
            nattch: ds.shm_nattch,
            dest: raw_mode & sys::shm::SHM_DEST != 0,
            locked: raw_mode & sys::shm::SHM_LOCKED != 0,
            rss: None,
            swap: None,
        }
    }

    /// The mode word as the kernel stores it: permission bits plus `SHM_DEST` (`0o1000`) and
    /// `SHM_LOCKED` (`0o2000`), as `/proc/sysvipc/shm` shows it.
    pub fn raw_mode(&self) -> u32 {
        self.mode
            | if self.dest { sys::shm::SHM_DEST } else { 0 }
            | if self.locked { sys::shm::SHM_LOCKED } else { 0 }
    }
}
