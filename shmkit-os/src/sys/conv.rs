//! Return codes and `errno` become `Result` here, and only here.

/// An `errno` value returned by a failed system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Errno(i32);

impl Errno {
    /// Wraps a raw `errno` value.
    pub(crate) const fn from_raw(raw: i32) -> Self {
        Errno(raw)
    }

    /// The raw `errno` value.
    pub(crate) const fn raw(self) -> i32 {
        self.0
    }

    /// The value of `errno` for the calling thread, right after a failed call.
    pub(crate) fn last() -> Self {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// `-1` → `Err(errno)`, anything else → `Ok(value)`.
pub(crate) fn cvt(ret: libc::c_int) -> Result<libc::c_int, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}
