//! `pipe2(2)`, `eventfd(2)`, and the 8-byte `read(2)` and `write(2)` of an eventfd.
//!
//! Every descriptor made here has `O_CLOEXEC`: a child process gets one only when the
//! caller hands it over explicitly (as the child's standard input or output).

use super::conv::cvt;
use super::Errno;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `pipe2(O_CLOEXEC)`: `(read end, write end)`.
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded: both are new, open descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `eventfd(initial, EFD_CLOEXEC)`: a new eventfd counter (blocking reads and writes).
pub(crate) fn eventfd(initial: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: eventfd takes plain integers.
    let fd = cvt(unsafe { libc::eventfd(initial, libc::EFD_CLOEXEC) })?;
    // SAFETY: eventfd succeeded: `fd` is a new, open descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `read(fd, 8 bytes)`, retried on `EINTR`: an eventfd's counter (which the read resets).
/// `Err(EINVAL)` when fewer than 8 bytes arrive (not an eventfd).
pub(crate) fn read_u64(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    let mut buf = [0u8; 8];
    loop {
        // SAFETY: `buf` is writable for the 8 bytes passed; `fd` is open for the borrow.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            8 => return Ok(u64::from_ne_bytes(buf)),
            -1 if Errno::last().raw() == libc::EINTR => continue,
            -1 => return Err(Errno::last()),
            _ => return Err(Errno::from_raw(libc::EINVAL)),
        }
    }
}

/// `write(fd, 8 bytes)`, retried on `EINTR`: adds `value` to an eventfd's counter.
pub(crate) fn write_u64(fd: BorrowedFd<'_>, value: u64) -> Result<(), Errno> {
    let buf = value.to_ne_bytes();
    loop {
        // SAFETY: `buf` is readable for the 8 bytes passed; `fd` is open for the borrow.
        let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        match n {
            8 => return Ok(()),
            -1 if Errno::last().raw() == libc::EINTR => continue,
            -1 => return Err(Errno::last()),
            _ => return Err(Errno::from_raw(libc::EINVAL)),
        }
    }
}
