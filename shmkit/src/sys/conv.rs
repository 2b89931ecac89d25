//! Return codes and `errno` become `Result` here, and only here.

use std::fmt;

/// An `errno` value returned by a failed system call.
///
/// # References
/// - [`errno(3)`](https://man7.org/linux/man-pages/man3/errno.3.html)
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(i32);

impl Errno {
    /// Wraps a raw `errno` value.
    pub const fn from_raw(raw: i32) -> Self {
        Errno(raw)
    }

    /// The raw `errno` value.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The value of `errno` for the calling thread, right after a failed call.
    pub(crate) fn last() -> Self {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The symbolic name (`"EACCES"`), or `None` for values this crate does not name.
    pub fn name(self) -> Option<&'static str> {
        self.describe().map(|(name, _)| name)
    }

    /// A lower-case description (`"permission denied"`).
    pub fn description(self) -> String {
        match self.describe() {
            Some((_, text)) => text.to_owned(),
            None => {
                let text = std::io::Error::from_raw_os_error(self.0).to_string();
                // std appends " (os error N)"; keep the words only, lower-cased like the rest.
                let words = text.split(" (os error").next().unwrap_or(&text);
                let mut out = words.to_owned();
                if let Some(first) = out.get_mut(0..1) {
                    first.make_ascii_lowercase();
                }
                out
            }
        }
    }

    fn describe(self) -> Option<(&'static str, &'static str)> {
        Some(match self.0 {
            libc::EPERM => ("EPERM", "operation not permitted"),
            libc::ENOENT => ("ENOENT", "no such object"),
            libc::ESRCH => ("ESRCH", "no such process"),
            libc::EINTR => ("EINTR", "interrupted by a signal"),
            libc::EIO => ("EIO", "input/output error"),
            libc::E2BIG => ("E2BIG", "argument list too long"),
            libc::EAGAIN => ("EAGAIN", "resource temporarily unavailable"),
            libc::ENOMEM => ("ENOMEM", "out of memory"),
            libc::EACCES => ("EACCES", "permission denied"),
            libc::EFAULT => ("EFAULT", "bad address"),
            libc::EBUSY => ("EBUSY", "device or resource busy"),
            libc::EEXIST => ("EEXIST", "already exists"),
            libc::ENOTDIR => ("ENOTDIR", "not a directory"),
            libc::EINVAL => ("EINVAL", "invalid argument"),
            libc::ENFILE => ("ENFILE", "too many open files in system"),
            libc::EMFILE => ("EMFILE", "too many open files"),
            libc::EFBIG => ("EFBIG", "value too large"),
            libc::ENOSPC => ("ENOSPC", "system limit reached"),
            libc::ERANGE => ("ERANGE", "result out of range"),
            libc::EDEADLK => ("EDEADLK", "resource deadlock avoided"),
            libc::ENAMETOOLONG => ("ENAMETOOLONG", "file name too long"),
            libc::ENOSYS => ("ENOSYS", "function not implemented"),
            libc::ELOOP => ("ELOOP", "too many levels of symbolic links"),
            libc::ENOMSG => ("ENOMSG", "no message of the desired type"),
            libc::EIDRM => ("EIDRM", "identifier removed"),
            libc::EOVERFLOW => ("EOVERFLOW", "value too large for defined data type"),
            libc::ETIMEDOUT => ("ETIMEDOUT", "timed out"),
            libc::EOWNERDEAD => ("EOWNERDEAD", "owner died"),
            libc::ENOTRECOVERABLE => ("ENOTRECOVERABLE", "state not recoverable"),
            _ => return None,
        })
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.description()),
            None => write!(f, "{} (errno {})", self.description(), self.0),
        }
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

/// `(void *) -1` → `Err(errno)`, anything else → `Ok(address)`.
pub(crate) fn cvt_ptr(ret: *mut libc::c_void) -> Result<*mut libc::c_void, Errno> {
    if ret as isize == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}
