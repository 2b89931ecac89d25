//! Pipes and eventfds: the kernel's other ways for two processes to signal each other.

use crate::error::{Error, Result};
use crate::sys;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// A new pipe, `(read end, write end)`, both close-on-exec (`pipe2(2)` with `O_CLOEXEC`).
/// Turn the ends into [`std::fs::File`]s to read and write them; hand one to a child
/// process as its standard input or output with [`std::process::Stdio::from`].
///
/// # Errors
/// The errno of `pipe2`: `EMFILE` or `ENFILE` when the process or the system has too many
/// files open.
///
/// # References
/// - [`pipe(2)`](https://man7.org/linux/man-pages/man2/pipe.2.html)
#[doc(alias = "pipe2")]
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    sys::fd::pipe().map_err(|e| Error::sys("pipe2", "O_CLOEXEC".to_owned(), e))
}

/// An eventfd: a 64-bit counter in the kernel that one side adds to ([`write`](EventFd::write))
/// and the other reads and resets, sleeping while it is zero ([`read`](EventFd::read)).
/// Blocking, close-on-exec. It can be handed to a child process as its standard input or
/// output (`Stdio::from(OwnedFd::from(eventfd))`) and taken back there with
/// [`EventFd::from`] an [`OwnedFd`].
///
/// # References
/// - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)
#[derive(Debug)]
#[doc(alias = "eventfd")]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A new eventfd whose counter starts at `initial` (`eventfd(initial, EFD_CLOEXEC)`).
    ///
    /// # Errors
    /// The errno of `eventfd`: `EMFILE` or `ENFILE` when too many files are open.
    pub fn new(initial: u32) -> Result<EventFd> {
        sys::fd::eventfd(initial)
            .map(|fd| EventFd { fd })
            .map_err(|e| Error::sys("eventfd", format!("initval={initial}, EFD_CLOEXEC"), e))
    }

    /// Waits until the counter is not zero, then returns it and resets it to zero (an
    /// 8-byte `read(2)`; interrupted reads are retried).
    ///
    /// # Errors
    /// `EINVAL` ([`std::io::ErrorKind::InvalidInput`]) when the descriptor is not an
    /// eventfd; the errno of `read` otherwise.
    pub fn read(&self) -> Result<u64> {
        sys::fd::read_u64(self.fd.as_fd()).map_err(|e| Error::sys("read", "eventfd".to_owned(), e))
    }

    /// Adds `value` to the counter, waking a reader (an 8-byte `write(2)`); waits if the
    /// sum would overflow.
    ///
    /// # Errors
    /// `EINVAL` ([`std::io::ErrorKind::InvalidInput`]) for `u64::MAX` or a descriptor that
    /// is not an eventfd; the errno of `write` otherwise.
    pub fn write(&self, value: u64) -> Result<()> {
        sys::fd::write_u64(self.fd.as_fd(), value)
            .map_err(|e| Error::sys("write", format!("eventfd, value={value}"), e))
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<EventFd> for OwnedFd {
    fn from(eventfd: EventFd) -> OwnedFd {
        eventfd.fd
    }
}

impl From<OwnedFd> for EventFd {
    /// Takes a descriptor that should be an eventfd (one inherited as standard input, say);
    /// reads and writes fail with `EINVAL` ([`std::io::ErrorKind::InvalidInput`]) if it is
    /// not.
    fn from(fd: OwnedFd) -> EventFd {
        EventFd { fd }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn eventfd_counts_and_pipe_carries_bytes() {
        let efd = EventFd::new(2).unwrap();
        efd.write(3).unwrap();
        assert_eq!(efd.read().unwrap(), 5);
        let efd = EventFd::from(OwnedFd::from(efd));
        efd.write(1).unwrap();
        assert_eq!(efd.read().unwrap(), 1);
        assert_eq!(
            efd.write(u64::MAX).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );

        use std::io::{Read, Write};
        let (r, w) = pipe().unwrap();
        let (mut r, mut w) = (std::fs::File::from(r), std::fs::File::from(w));
        w.write_all(b"ping").unwrap();
        drop(w);
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"ping");
        // A pipe is not an eventfd: an 8-byte read of 4 bytes is refused.
        let (r, w) = pipe().unwrap();
        std::fs::File::from(w).write_all(b"four").unwrap();
        assert_eq!(
            EventFd::from(r).read().unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}
