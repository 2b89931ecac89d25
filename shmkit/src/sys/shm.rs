//! `shmget(2)`, `shmat(2)`, `shmdt(2)` and `shmctl(2)`.

use super::conv::{cvt, cvt_ptr};
use super::ipc::{zeroed, IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT};
use super::Errno;
use libc::{c_int, c_ulong, c_void};

/// `shmctl` command: like `IPC_STAT`, but takes an index into the kernel's table.
pub(crate) const SHM_STAT: c_int = 13;
/// `shmctl` command: system-wide usage (`struct shm_info`).
pub(crate) const SHM_INFO: c_int = 14;
/// `shmctl` command: `SHM_STAT` without the read-permission check (Linux 4.17).
pub(crate) const SHM_STAT_ANY: c_int = 15;
/// Where `shmget` encodes log2 of the huge page size in its flags.
pub(crate) const SHM_HUGE_SHIFT: c_int = 26;
/// `ipc_perm.mode` bit: marked for destruction (`IPC_RMID` while attached).
pub(crate) const SHM_DEST: u32 = 0o1000;
/// `ipc_perm.mode` bit: locked in memory (`SHM_LOCK`).
pub(crate) const SHM_LOCKED: u32 = 0o2000;

pub(crate) use libc::shmid_ds;
pub(crate) use libc::{SHM_HUGETLB, SHM_NORESERVE, SHM_RDONLY, SHM_RND};

/// `struct shminfo` as `IPC_INFO` fills it (glibc's layout, which is the kernel's `shminfo64`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct shminfo {
    pub(crate) shmmax: c_ulong,
    pub(crate) shmmin: c_ulong,
    pub(crate) shmmni: c_ulong,
    pub(crate) shmseg: c_ulong,
    pub(crate) shmall: c_ulong,
    pub(crate) reserved: [c_ulong; 4],
}

/// `struct shm_info` as `SHM_INFO` fills it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct shm_info {
    pub(crate) used_ids: c_int,
    pub(crate) shm_tot: c_ulong,
    pub(crate) shm_rss: c_ulong,
    pub(crate) shm_swp: c_ulong,
    pub(crate) swap_attempts: c_ulong,
    pub(crate) swap_successes: c_ulong,
}

/// `shmget(2)`.
pub(crate) fn shmget(key: i32, size: usize, flags: c_int) -> Result<c_int, Errno> {
    // SAFETY: shmget takes no pointers; any argument values are checked by the kernel.
    cvt(unsafe { libc::shmget(key, size, flags) })
}

/// `shmat(2)`. `SHM_REMAP` is refused with `EINVAL`: it may replace mappings that Rust code
/// still references, so no caller of this layer may ask for it.
pub(crate) fn shmat(id: c_int, addr: usize, flags: c_int) -> Result<*mut c_void, Errno> {
    if flags & libc::SHM_REMAP != 0 {
        return Err(Errno::from_raw(libc::EINVAL));
    }
    // SAFETY: without SHM_REMAP the kernel never replaces an existing mapping: an address hint
    // that overlaps one fails with EINVAL. The new mapping is fresh memory nobody references.
    cvt_ptr(unsafe { libc::shmat(id, addr as *const c_void, flags) })
}

/// `shmdt(2)`.
///
/// # Safety
/// `addr` must be the start of an attachment made by `shmat`, and nothing may use the
/// attached memory after this call (it is unmapped).
pub(crate) unsafe fn shmdt(addr: *const c_void) -> Result<(), Errno> {
    // SAFETY: the caller guarantees that the mapping at `addr` is no longer used.
    cvt(unsafe { libc::shmdt(addr) }).map(drop)
}

/// `shmctl(id, IPC_STAT)`.
pub(crate) fn stat(id: c_int) -> Result<shmid_ds, Errno> {
    stat_cmd(id, IPC_STAT).map(|(_, ds)| ds)
}

/// `shmctl(index, SHM_STAT)` or `SHM_STAT_ANY`: the id at that index and its `shmid_ds`.
pub(crate) fn stat_index(index: c_int, any: bool) -> Result<(c_int, shmid_ds), Errno> {
    stat_cmd(index, if any { SHM_STAT_ANY } else { SHM_STAT })
}

fn stat_cmd(id: c_int, cmd: c_int) -> Result<(c_int, shmid_ds), Errno> {
    let mut ds = zeroed::<shmid_ds>();
    // SAFETY: `ds` is a writable shmid_ds, which is what these commands fill.
    let ret = cvt(unsafe { libc::shmctl(id, cmd, &mut ds) })?;
    Ok((ret, ds))
}

/// `shmctl(id, IPC_SET)`: copies uid, gid and the low 9 mode bits from `ds`.
pub(crate) fn set(id: c_int, ds: &shmid_ds) -> Result<(), Errno> {
    let mut copy = *ds;
    // SAFETY: `copy` is a valid shmid_ds; IPC_SET only reads it.
    cvt(unsafe { libc::shmctl(id, IPC_SET, &mut copy) }).map(drop)
}

/// `shmctl(id, IPC_RMID)`.
pub(crate) fn remove(id: c_int) -> Result<(), Errno> {
    // SAFETY: IPC_RMID ignores the buffer, so a null pointer is fine.
    cvt(unsafe { libc::shmctl(id, IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

/// `shmctl(id, SHM_LOCK)` or `SHM_UNLOCK`.
pub(crate) fn lock(id: c_int, lock: bool) -> Result<(), Errno> {
    let cmd = if lock {
        libc::SHM_LOCK
    } else {
        libc::SHM_UNLOCK
    };
    // SAFETY: SHM_LOCK and SHM_UNLOCK ignore the buffer.
    cvt(unsafe { libc::shmctl(id, cmd, std::ptr::null_mut()) }).map(drop)
}

/// `shmctl(0, IPC_INFO)`: the limits, and the highest used index.
pub(crate) fn ipc_info() -> Result<(c_int, shminfo), Errno> {
    let mut info = shminfo::default();
    // SAFETY: IPC_INFO writes a `struct shminfo`, whose layout `info` has (see the layout test).
    let max = cvt(unsafe { libc::shmctl(0, IPC_INFO, (&mut info as *mut shminfo).cast()) })?;
    Ok((max, info))
}

/// `shmctl(0, SHM_INFO)`: system-wide usage, and the highest used index.
pub(crate) fn shm_info() -> Result<(c_int, shm_info), Errno> {
    let mut info = shm_info::default();
    // SAFETY: SHM_INFO writes a `struct shm_info`, whose layout `info` has (see the layout test).
    let max = cvt(unsafe { libc::shmctl(0, SHM_INFO, (&mut info as *mut shm_info).cast()) })?;
    Ok((max, info))
}

#[cfg(test)]
mod layout_tests {
    //! The structs mirrored here against the C headers, compiled with the system's compiler
    //! (rustix's `check_types` habit, checked against C rather than against libc).
    use super::*;
    use std::mem::{align_of, offset_of, size_of};
    use std::process::Command;

    const C: &str = r#"
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <sys/shm.h>
#include <sys/sem.h>
#include <sys/msg.h>
#include <asm-generic/hugetlb_encode.h>
union semun { int val; struct semid_ds *buf; unsigned short *array; struct seminfo *__buf; };
#define F(t, f) printf(#t "." #f " %zu\n", offsetof(struct t, f))
int main(void) {
    printf("shminfo.size %zu\nshminfo.align %zu\n", sizeof(struct shminfo), _Alignof(struct shminfo));
    F(shminfo, shmmax); F(shminfo, shmmin); F(shminfo, shmmni); F(shminfo, shmseg); F(shminfo, shmall);
    printf("shm_info.size %zu\nshm_info.align %zu\n", sizeof(struct shm_info), _Alignof(struct shm_info));
    F(shm_info, used_ids); F(shm_info, shm_tot); F(shm_info, shm_rss); F(shm_info, shm_swp);
    F(shm_info, swap_attempts); F(shm_info, swap_successes);
    printf("shmid_ds.size %zu\n", sizeof(struct shmid_ds));
    F(shmid_ds, shm_segsz); F(shmid_ds, shm_nattch);
    printf("SHM_STAT %d\nSHM_INFO %d\nSHM_STAT_ANY %d\nSHM_HUGE_SHIFT %d\n", SHM_STAT, SHM_INFO, SHM_STAT_ANY, HUGETLB_FLAG_ENCODE_SHIFT);
    printf("SHM_HUGE_2MB %u\nSHM_HUGE_1GB %u\n", HUGETLB_FLAG_ENCODE_2MB, HUGETLB_FLAG_ENCODE_1GB);
    printf("semun.size %zu\nsemun.align %zu\n", sizeof(union semun), _Alignof(union semun));
    printf("sembuf.size %zu\nsemid_ds.size %zu\nmsqid_ds.size %zu\n", sizeof(struct sembuf), sizeof(struct semid_ds), sizeof(struct msqid_ds));
    F(semid_ds, sem_nsems); F(msqid_ds, msg_qbytes); F(msqid_ds, msg_lrpid);
    printf("MSG_COPY %d\nMSG_STAT_ANY %d\nSEM_STAT_ANY %d\n", MSG_COPY, MSG_STAT_ANY, SEM_STAT_ANY);
    return 0;
}
"#;

    #[test]
    fn mirrors_match_the_c_headers() {
        let dir = std::env::temp_dir().join(format!("shmkit-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("layout.c");
        let bin = dir.join("layout");
        std::fs::write(&src, C).unwrap();
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let status = Command::new(&cc).arg("-o").arg(&bin).arg(&src).status();
        let out = status
            .ok()
            .filter(|s| s.success())
            .and_then(|_| Command::new(&bin).output().ok());
        let _ = std::fs::remove_dir_all(&dir);
        let out = out.unwrap_or_else(|| {
            panic!("could not compile and run a C program with {cc:?}: install gcc")
        });
        let text = String::from_utf8(out.stdout).unwrap();
        let c: std::collections::HashMap<&str, usize> = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k, v.parse().unwrap()))
            .collect();
        let ours = [
            ("shminfo.size", size_of::<shminfo>()),
            ("shminfo.align", align_of::<shminfo>()),
            ("shminfo.shmmax", offset_of!(shminfo, shmmax)),
            ("shminfo.shmmin", offset_of!(shminfo, shmmin)),
            ("shminfo.shmmni", offset_of!(shminfo, shmmni)),
            ("shminfo.shmseg", offset_of!(shminfo, shmseg)),
            ("shminfo.shmall", offset_of!(shminfo, shmall)),
            ("shm_info.size", size_of::<shm_info>()),
            ("shm_info.align", align_of::<shm_info>()),
            ("shm_info.used_ids", offset_of!(shm_info, used_ids)),
            ("shm_info.shm_tot", offset_of!(shm_info, shm_tot)),
            ("shm_info.shm_rss", offset_of!(shm_info, shm_rss)),
            ("shm_info.shm_swp", offset_of!(shm_info, shm_swp)),
            (
                "shm_info.swap_attempts",
                offset_of!(shm_info, swap_attempts),
            ),
            (
                "shm_info.swap_successes",
                offset_of!(shm_info, swap_successes),
            ),
            ("shmid_ds.size", size_of::<shmid_ds>()),
            ("shmid_ds.shm_segsz", offset_of!(shmid_ds, shm_segsz)),
            ("shmid_ds.shm_nattch", offset_of!(shmid_ds, shm_nattch)),
            ("SHM_STAT", SHM_STAT as usize),
            ("SHM_INFO", SHM_INFO as usize),
            ("SHM_STAT_ANY", SHM_STAT_ANY as usize),
            ("SHM_HUGE_SHIFT", SHM_HUGE_SHIFT as usize),
            ("SHM_HUGE_2MB", (21u32 << SHM_HUGE_SHIFT) as usize),
            ("semun.size", size_of::<crate::sys::sem::semun>()),
            ("semun.align", align_of::<crate::sys::sem::semun>()),
            ("sembuf.size", size_of::<crate::sys::sem::sembuf>()),
            ("semid_ds.size", size_of::<crate::sys::sem::semid_ds>()),
            ("msqid_ds.size", size_of::<crate::sys::msg::msqid_ds>()),
            (
                "semid_ds.sem_nsems",
                offset_of!(crate::sys::sem::semid_ds, sem_nsems),
            ),
            (
                "msqid_ds.msg_qbytes",
                offset_of!(crate::sys::msg::msqid_ds, msg_qbytes),
            ),
            (
                "msqid_ds.msg_lrpid",
                offset_of!(crate::sys::msg::msqid_ds, msg_lrpid),
            ),
            ("MSG_COPY", crate::sys::msg::MSG_COPY as usize),
            ("MSG_STAT_ANY", crate::sys::msg::MSG_STAT_ANY as usize),
            ("SEM_STAT_ANY", crate::sys::sem::SEM_STAT_ANY as usize),
            ("SHM_HUGE_1GB", (30u32 << SHM_HUGE_SHIFT) as usize),
        ];
        for (name, value) in ours {
            assert_eq!(c.get(name), Some(&value), "{name}");
        }
    }
}
