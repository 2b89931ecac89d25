//! Terminals: `isatty(3)`, the window size (`TIOCGWINSZ`), and key-by-key input
//! (`tcgetattr(3)`/`tcsetattr(3)`).

use std::mem::MaybeUninit;

/// Switches terminal `fd` to non-canonical, no-echo input (keys arrive one by one),
/// returning the settings to restore; `None` if `fd` is not a terminal.
pub(crate) fn cbreak(fd: i32) -> Option<SavedTerminal> {
    let mut old = MaybeUninit::<libc::termios>::zeroed();
    // SAFETY: tcgetattr writes a termios into `old` and fails cleanly for a non-terminal.
    if unsafe { libc::tcgetattr(fd, old.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: tcgetattr succeeded and filled `old`.
    let old = unsafe { old.assume_init() };
    let mut new = old;
    new.c_lflag &= !(libc::ICANON | libc::ECHO);
    new.c_cc[libc::VMIN] = 1;
    new.c_cc[libc::VTIME] = 0;
    // SAFETY: `new` is a valid termios derived from the terminal's own settings.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &new) } != 0 {
        return None;
    }
    Some(SavedTerminal(old))
}

/// Terminal settings saved by [`cbreak`].
pub(crate) struct SavedTerminal(libc::termios);

impl std::fmt::Debug for SavedTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SavedTerminal")
    }
}

/// Restores settings saved by [`cbreak`].
pub(crate) fn restore_terminal(fd: i32, saved: &SavedTerminal) {
    // SAFETY: `saved` holds a termios obtained from tcgetattr on this terminal.
    unsafe {
        libc::tcsetattr(fd, libc::TCSANOW, &saved.0);
    }
}

/// Whether `fd` is a terminal (`isatty(3)`).
pub(crate) fn isatty(fd: i32) -> bool {
    // SAFETY: isatty takes any integer and has no other preconditions.
    unsafe { libc::isatty(fd) == 1 }
}

/// `ioctl(fd, TIOCGWINSZ)`: the terminal's width in columns.
pub(crate) fn terminal_width(fd: i32) -> Option<u16> {
    let mut ws = MaybeUninit::<libc::winsize>::zeroed();
    // SAFETY: TIOCGWINSZ writes a struct winsize into the valid, writable `ws`, and fails
    // cleanly for a descriptor that is not a terminal.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, ws.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: the ioctl succeeded and filled `ws`.
    Some(unsafe { ws.assume_init() }.ws_col)
}
