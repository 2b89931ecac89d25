//! `semget(2)`, `semop(2)`, `semtimedop(2)` and `semctl(2)`.

use super::conv::cvt;
use super::ipc::{zeroed, IPC_RMID, IPC_SET, IPC_STAT};
use super::Errno;
use libc::{c_int, c_long, c_ushort};

pub(crate) use libc::{
    sembuf, semid_ds, seminfo, GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, SEM_INFO, SEM_STAT,
    SEM_STAT_ANY, SEM_UNDO, SETALL, SETVAL,
};

/// `union semun`, the fourth argument of `semctl(2)`, which the caller must define.
/// Passed by value, as glibc's `va_arg(ap, union semun)` reads it.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) union semun {
    pub(crate) val: c_int,
    pub(crate) buf: *mut semid_ds,
    pub(crate) array: *mut c_ushort,
    pub(crate) info: *mut seminfo,
}

/// `semget(2)`.
pub(crate) fn semget(key: i32, nsems: c_int, flags: c_int) -> Result<c_int, Errno> {
    // SAFETY: semget takes no pointers.
    cvt(unsafe { libc::semget(key, nsems, flags) })
}

/// `semop(2)`: applies `ops` atomically.
pub(crate) fn semop(id: c_int, ops: &mut [sembuf]) -> Result<(), Errno> {
    // SAFETY: `ops` is a valid array of `ops.len()` sembufs (the kernel reads it only).
    cvt(unsafe { libc::semop(id, ops.as_mut_ptr(), ops.len()) }).map(drop)
}

/// `semtimedop(2)` through the raw system call (the libc crate has no wrapper).
/// `EAGAIN` means the time ran out (or `IPC_NOWAIT` could not proceed).
pub(crate) fn semtimedop(
    id: c_int,
    ops: &mut [sembuf],
    timeout: std::time::Duration,
) -> Result<(), Errno> {
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // SAFETY: `ops` is a valid array of `ops.len()` sembufs and `timeout` a valid timespec;
    // the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_semtimedop,
            c_long::from(id),
            ops.as_mut_ptr(),
            ops.len(),
            &timeout as *const libc::timespec,
        )
    };
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `semctl(id, num, cmd, arg)` for the commands that return an integer.
pub(crate) fn semctl(id: c_int, num: c_int, cmd: c_int, arg: semun) -> Result<c_int, Errno> {
    // SAFETY: the commands that reach here (GETVAL, SETVAL, GETPID, GETNCNT, GETZCNT,
    // IPC_RMID) read at most `arg.val`; the pointer variants are built by the functions below.
    cvt(unsafe { libc::semctl(id, num, cmd, arg) })
}

/// `semctl(id, 0, IPC_STAT)`.
pub(crate) fn stat(id: c_int) -> Result<semid_ds, Errno> {
    stat_cmd(id, IPC_STAT).map(|(_, ds)| ds)
}

/// `semctl(index, 0, SEM_STAT)` or `SEM_STAT_ANY`: the id at that index and its `semid_ds`.
pub(crate) fn stat_index(index: c_int, any: bool) -> Result<(c_int, semid_ds), Errno> {
    stat_cmd(index, if any { SEM_STAT_ANY } else { SEM_STAT })
}

fn stat_cmd(id: c_int, cmd: c_int) -> Result<(c_int, semid_ds), Errno> {
    let mut ds = zeroed::<semid_ds>();
    let arg = semun { buf: &mut ds };
    // SAFETY: `arg.buf` points at a writable semid_ds, which these commands fill.
    let ret = cvt(unsafe { libc::semctl(id, 0, cmd, arg) })?;
    Ok((ret, ds))
}

/// `semctl(id, 0, IPC_RMID)`.
pub(crate) fn remove(id: c_int) -> Result<(), Errno> {
    semctl(id, 0, IPC_RMID, semun { val: 0 }).map(drop)
}

/// `semctl(id, 0, IPC_SET)`: copies uid, gid and mode from `ds`.
pub(crate) fn set(id: c_int, ds: &semid_ds) -> Result<(), Errno> {
    let mut copy = *ds;
    let arg = semun { buf: &mut copy };
    // SAFETY: `arg.buf` points at a valid semid_ds, which IPC_SET reads.
    cvt(unsafe { libc::semctl(id, 0, IPC_SET, arg) }).map(drop)
}

/// `semctl(id, 0, GETALL)` into `values` (which must have one slot per semaphore).
pub(crate) fn get_all(id: c_int, values: &mut [c_ushort]) -> Result<(), Errno> {
    let arg = semun {
        array: values.as_mut_ptr(),
    };
    // SAFETY: `values` has room for the set's nsems values (the caller sized it from
    // IPC_STAT; a set's size never changes).
    cvt(unsafe { libc::semctl(id, 0, GETALL, arg) }).map(drop)
}

/// `semctl(id, 0, SETALL)` from `values` (one per semaphore).
pub(crate) fn set_all(id: c_int, values: &[c_ushort]) -> Result<(), Errno> {
    let arg = semun {
        array: values.as_ptr().cast_mut(),
    };
    // SAFETY: `values` holds the set's nsems values; SETALL only reads them.
    cvt(unsafe { libc::semctl(id, 0, SETALL, arg) }).map(drop)
}

/// `semctl(0, 0, IPC_INFO)` or `SEM_INFO`: the limits or usage, and the highest index.
pub(crate) fn info(cmd: c_int) -> Result<(c_int, seminfo), Errno> {
    let mut info = zeroed::<seminfo>();
    let arg = semun { info: &mut info };
    // SAFETY: `arg.info` points at a writable seminfo, which these commands fill.
    let ret = cvt(unsafe { libc::semctl(0, 0, cmd, arg) })?;
    Ok((ret, info))
}
