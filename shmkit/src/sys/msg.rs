//! `msgget(2)`, `msgsnd(2)`, `msgrcv(2)` and `msgctl(2)`.

use super::conv::cvt;
use super::ipc::{zeroed, IPC_RMID, IPC_SET, IPC_STAT};
use super::Errno;
use libc::{c_int, c_long, c_void};
use std::mem::MaybeUninit;

pub(crate) use libc::{msginfo, msqid_ds, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT};

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

/// Messages up to this long are staged on the stack; longer ones in a heap buffer.
const INLINE_TEXT: usize = 256;

/// `msgsnd(2)` of a message of type `mtype` carrying `text`. The kernel wants a
/// `struct msgbuf` (a native `long` type, then the text), so the message is staged in one.
pub(crate) fn msgsnd(id: c_int, mtype: i64, text: &[u8], flags: c_int) -> Result<(), Errno> {
    let mtype = (mtype as c_long).to_ne_bytes();
    let mut inline = MaybeUninit::<[u8; TYPE_LEN + INLINE_TEXT]>::uninit();
    let mut heap: Vec<u8> = Vec::new();
    let stage: *mut u8 = if text.len() <= INLINE_TEXT {
        inline.as_mut_ptr().cast()
    } else {
        heap.reserve_exact(TYPE_LEN + text.len());
        heap.as_mut_ptr()
    };
    // SAFETY: `stage` is writable for TYPE_LEN + text.len() bytes (see above), and does not
    // overlap `mtype` or `text`. After the copies those bytes are initialised, and msgsnd
    // reads exactly them: the type, then `text.len()` bytes of text.
    cvt(unsafe {
        std::ptr::copy_nonoverlapping(mtype.as_ptr(), stage, TYPE_LEN);
        std::ptr::copy_nonoverlapping(text.as_ptr(), stage.add(TYPE_LEN), text.len());
        libc::msgsnd(id, stage.cast::<c_void>(), text.len(), flags)
    })
    .map(drop)
}

/// `msgrcv(2)` into `text` (at most `text.len()` bytes of text): returns the message's type
/// and its length. The kernel writes a `struct msgbuf`, staged in uninitialised memory (on
/// the stack for short buffers) so that a large buffer costs no zeroing.
pub(crate) fn msgrcv(
    id: c_int,
    text: &mut [u8],
    msgtyp: i64,
    flags: c_int,
) -> Result<(i64, usize), Errno> {
    let room = text.len();
    let mut inline = MaybeUninit::<[u8; TYPE_LEN + INLINE_TEXT]>::uninit();
    let mut heap: Vec<u8> = Vec::new();
    let stage: *mut u8 = if room <= INLINE_TEXT {
        inline.as_mut_ptr().cast()
    } else {
        heap.reserve_exact(TYPE_LEN + room);
        heap.as_mut_ptr()
    };
    // SAFETY: `stage` is writable for TYPE_LEN + room bytes (the inline array is at least
    // that long when room <= INLINE_TEXT; otherwise the heap buffer has that capacity), which
    // bounds what the kernel writes; msgrcv writes the type and then the text.
    let n = unsafe { libc::msgrcv(id, stage.cast::<c_void>(), room, msgtyp as c_long, flags) };
    if n < 0 {
        return Err(Errno::last());
    }
    // The kernel never returns more than `room`; clamp anyway before copying.
    let n = (n as usize).min(room);
    let mut mtype = [0u8; TYPE_LEN];
    // SAFETY: on success the kernel wrote the type (TYPE_LEN bytes) and `n` bytes of text at
    // `stage`, so those bytes are initialised; `text` has room for `n` bytes and does not
    // overlap the stage.
    unsafe {
        std::ptr::copy_nonoverlapping(stage, mtype.as_mut_ptr(), TYPE_LEN);
        std::ptr::copy_nonoverlapping(stage.add(TYPE_LEN), text.as_mut_ptr(), n);
    }
    #[allow(clippy::unnecessary_cast)] // c_long is i32 on 32-bit targets
    let mtype = c_long::from_ne_bytes(mtype) as i64;
    Ok((mtype, n))
}

/// `msgctl(id, IPC_STAT)`.
pub(crate) fn stat(id: c_int) -> Result<msqid_ds, Errno> {
    stat_cmd(id, IPC_STAT).map(|(_, ds)| ds)
}

/// `msgctl(index, MSG_STAT)` or `MSG_STAT_ANY`: the id at that index and its `msqid_ds`.
pub(crate) fn stat_index(index: c_int, any: bool) -> Result<(c_int, msqid_ds), Errno> {
    stat_cmd(index, if any { MSG_STAT_ANY } else { MSG_STAT })
}

fn stat_cmd(id: c_int, cmd: c_int) -> Result<(c_int, msqid_ds), Errno> {
    let mut ds = zeroed::<msqid_ds>();
    // SAFETY: `ds` is a writable msqid_ds, which these commands fill.
    let ret = cvt(unsafe { libc::msgctl(id, cmd, &mut ds) })?;
    Ok((ret, ds))
}

/// `msgctl(id, IPC_SET)`: copies uid, gid, mode and qbytes from `ds`.
pub(crate) fn set(id: c_int, ds: &msqid_ds) -> Result<(), Errno> {
    let mut copy = *ds;
    // SAFETY: `copy` is a valid msqid_ds; IPC_SET reads it.
    cvt(unsafe { libc::msgctl(id, IPC_SET, &mut copy) }).map(drop)
}

/// `msgctl(id, IPC_RMID)`.
pub(crate) fn remove(id: c_int) -> Result<(), Errno> {
    // SAFETY: IPC_RMID ignores the buffer.
    cvt(unsafe { libc::msgctl(id, IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

/// `msgctl(0, IPC_INFO)` or `MSG_INFO`: limits or usage, and the highest index.
pub(crate) fn info(cmd: c_int) -> Result<(c_int, msginfo), Errno> {
    let mut info = zeroed::<msginfo>();
    // SAFETY: these commands write a `struct msginfo` through the msqid_ds pointer, as
    // msgctl(2) documents; `info` is writable and large enough.
    let ret = cvt(unsafe { libc::msgctl(0, cmd, (&mut info as *mut msginfo).cast()) })?;
    Ok((ret, info))
}
