//! Terminals: is it one, how wide is it, and keys one by one.

use crate::sys;

/// The width in columns of the terminal on file descriptor `fd` (`TIOCGWINSZ`), or `None`
/// when `fd` is not a terminal or reports a width of 0.
///
/// # References
/// - [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html)
pub fn terminal_width(fd: i32) -> Option<u16> {
    sys::term::terminal_width(fd).filter(|&w| w > 0)
}

/// Whether file descriptor `fd` (0 stdin, 1 stdout, 2 stderr) is a terminal.
///
/// # References
/// - [`isatty(3)`](https://man7.org/linux/man-pages/man3/isatty.3.html)
pub fn is_terminal(fd: i32) -> bool {
    sys::term::isatty(fd)
}

/// While alive, standard input (a terminal) delivers keys one by one without echo, so that
/// an interactive tool can react to a single key such as `q`; the previous settings come
/// back on drop (also on panic). See [`stdin_keys`].
///
/// # References
/// - [`termios(3)`](https://man7.org/linux/man-pages/man3/termios.3.html)
#[derive(Debug)]
pub struct KeyMode {
    saved: sys::term::SavedTerminal,
}

/// Puts standard input in key-by-key mode (non-canonical, no echo); `None` if it is not a
/// terminal.
///
/// # References
/// - [`termios(3)`](https://man7.org/linux/man-pages/man3/termios.3.html), `ICANON`, `ECHO`
pub fn stdin_keys() -> Option<KeyMode> {
    sys::term::cbreak(0).map(|saved| KeyMode { saved })
}

impl Drop for KeyMode {
    fn drop(&mut self) {
        sys::term::restore_terminal(0, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_is_not_a_terminal() {
        let (r, w) = crate::pipe().unwrap();
        use std::os::fd::AsRawFd;
        for fd in [r.as_raw_fd(), w.as_raw_fd()] {
            assert!(!is_terminal(fd));
            assert_eq!(terminal_width(fd), None);
        }
        assert!(!is_terminal(-1));
    }
}
