//! `localtime_r(3)` and `signal(2)` for SIGPIPE: what command-line tools need from libc
//! besides IPC.

use std::mem::MaybeUninit;

extern "C" {
    /// `tzset(3)`: (re)reads `TZ`; the libc crate does not declare it.
    fn tzset();
}

/// A broken-down local time, as `struct tm` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tm {
    pub(crate) year: i32,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) weekday: u32,
    pub(crate) yearday: u32,
    pub(crate) utc_offset: i64,
    pub(crate) dst: bool,
    pub(crate) zone: String,
}

/// `localtime_r(secs)`, honouring `TZ` (read by `tzset` once per process, as `localtime`
/// does on its first call).
pub(crate) fn localtime(secs: i64) -> Option<Tm> {
    let t = libc::time_t::try_from(secs).ok()?;
    let mut tm = MaybeUninit::<libc::tm>::zeroed();
    // tzset reads TZ (and stats the zone file) again at every call: once per process is
    // what localtime does, and a listing formats thousands of times.
    static TZSET: std::sync::Once = std::sync::Once::new();
    // SAFETY: tzset has no preconditions.
    TZSET.call_once(|| unsafe { tzset() });
    // SAFETY: localtime_r gets a valid time_t and a writable struct tm, and returns null on
    // failure.
    let ok = unsafe { !libc::localtime_r(&t, tm.as_mut_ptr()).is_null() };
    if !ok {
        return None;
    }
    // SAFETY: localtime_r filled `tm`.
    let tm = unsafe { tm.assume_init() };
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: tm_zone points at a NUL-terminated string owned by libc's time-zone data,
        // valid until the next tzset; it is copied at once.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    Some(Tm {
        year: tm.tm_year + 1900,
        month: tm.tm_mon as u32 + 1,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        weekday: tm.tm_wday as u32,
        yearday: tm.tm_yday as u32,
        utc_offset: tm.tm_gmtoff,
        dst: tm.tm_isdst > 0,
        zone,
    })
}

/// Restores the default action of SIGPIPE (Rust ignores it), so that a write to a closed
/// pipe ends the process as it ends a C program.
pub(crate) fn default_sigpipe() {
    // SAFETY: setting SIGPIPE to SIG_DFL has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

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
