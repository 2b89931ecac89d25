//! `msgget(2)`, `msgsnd(2)`, `msgrcv(2)` and `msgctl(2)`.

use super::conv::cvt;
use super::Errno;
use libc::{c_int, c_long, c_void};
use std::mem::MaybeUninit;

pub(crate) use libc::{msginfo, msqid_ds, IPC_NOWAIT, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT};

/// The size of `struct msgbuf`'s `mtype`, a C `long`.
pub(crate) const TYPE_LEN: usize = std::mem::size_of::<c_long>();

/// `msgrcv` flag: copy the message at an index without removing it (Linux 3.8,
/// `CONFIG_CHECKPOINT_RESTORE`).
pub(crate) const MSG_COPY: c_int = 0o40000;
/// `msgctl` command: `MSG_STAT` without the read-permission check (Linux 4.17).
pub(crate) const MSG_STAT_ANY: c_int = 13;

/// `msgget(2)`.
pub(crate) fn msgget(key: i32, flags: c_int) -> Result<c_int, Errno> {
    // SAFETY: msgget takes no pointers.
    cvt(unsafe { libc::msgget(key, flags) })
}

/// `msgsnd(2)`: `buf` is a `struct msgbuf` (a native `long` type, then the text), and
/// `text_len` the length of the text (`buf.len() - size_of::<c_long>()` at most).
pub(crate) fn msgsnd(id: c_int, buf: &[u8], text_len: usize, flags: c_int) -> Result<(), Errno> {
    assert!(text_len + std::mem::size_of::<c_long>() <= buf.len());
    // SAFETY: `buf` holds the type and `text_len` bytes of text; msgsnd only reads them.
    cvt(unsafe { libc::msgsnd(id, buf.as_ptr().cast::<c_void>(), text_len, flags) }).map(drop)
}

/// `msgrcv(2)` into `buf` (a `struct msgbuf` with room for `buf.len() - size_of::<c_long>()`
/// bytes of text); returns the text length.
pub(crate) fn msgrcv(
    id: c_int,
    buf: &mut [u8],
    msgtyp: c_long,
    flags: c_int,
) -> Result<usize, Errno> {
    let room = buf.len().saturating_sub(std::mem::size_of::<c_long>());
    assert!(buf.len() >= std::mem::size_of::<c_long>());
    // SAFETY: `buf` is writable for the type plus `room` bytes, which bounds what the kernel
    // writes. Its alignment does not matter to the kernel (copy_to_user).
    let n = unsafe { libc::msgrcv(id, buf.as_mut_ptr().cast::<c_void>(), room, msgtyp, flags) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// `msgctl(id, cmd)` for `IPC_STAT`, `MSG_STAT`, `MSG_STAT_ANY` (returning the id for the
/// latter two).
pub(crate) fn stat(id: c_int, cmd: c_int) -> Result<(c_int, msqid_ds), Errno> {
    let mut ds = MaybeUninit::<msqid_ds>::zeroed();
    // SAFETY: `ds` is a writable msqid_ds, which these commands fill.
    let ret = cvt(unsafe { libc::msgctl(id, cmd, ds.as_mut_ptr()) })?;
    // SAFETY: zero is a valid msqid_ds and the kernel filled it.
    Ok((ret, unsafe { ds.assume_init() }))
}

/// `msgctl(id, IPC_SET)`: copies uid, gid, mode and qbytes from `ds`.
pub(crate) fn set(id: c_int, ds: &msqid_ds) -> Result<(), Errno> {
    let mut copy = *ds;
    // SAFETY: `copy` is a valid msqid_ds; IPC_SET reads it.
    cvt(unsafe { libc::msgctl(id, libc::IPC_SET, &mut copy) }).map(drop)
}

/// `msgctl(id, IPC_RMID)`.
pub(crate) fn remove(id: c_int) -> Result<(), Errno> {
    // SAFETY: IPC_RMID ignores the buffer.
    cvt(unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

/// `msgctl(0, IPC_INFO)` or `MSG_INFO`: limits or usage, and the highest index.
pub(crate) fn info(cmd: c_int) -> Result<(c_int, msginfo), Errno> {
    let mut info = MaybeUninit::<msginfo>::zeroed();
    // SAFETY: these commands write a `struct msginfo` through the msqid_ds pointer, as
    // msgctl(2) documents; `info` is writable and large enough.
    let ret = cvt(unsafe { libc::msgctl(0, cmd, info.as_mut_ptr().cast()) })?;
    // SAFETY: zero is a valid msginfo and the kernel filled it.
    Ok((ret, unsafe { info.assume_init() }))
}

/// An all-zero `msqid_ds`.
pub(crate) fn zeroed_ds() -> msqid_ds {
    // SAFETY: msqid_ds is made of integers, for which zero is valid.
    unsafe { MaybeUninit::<msqid_ds>::zeroed().assume_init() }
}
