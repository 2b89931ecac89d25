//! What command-line tools built on this crate need from the operating system besides IPC:
//! local time as libc computes it (so `TZ` and `/etc/localtime` apply exactly as in C
//! tools), user and group names through NSS, and C's behaviour on a closed pipe.

use crate::sys;

/// A broken-down local time (`struct tm` from `localtime_r(3)`).
///
/// # References
/// - [`localtime_r(3)`](https://man7.org/linux/man-pages/man3/localtime_r.3.html)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalTime {
    /// The year, e.g. 2026.
    pub year: i32,
    /// The month, 1 to 12.
    pub month: u32,
    /// The day of the month, 1 to 31.
    pub day: u32,
    /// The hour, 0 to 23.
    pub hour: u32,
    /// The minute, 0 to 59.
    pub minute: u32,
    /// The second, 0 to 60.
    pub second: u32,
    /// The day of the week, 0 (Sunday) to 6.
    pub weekday: u32,
    /// The day of the year, 0 to 365.
    pub yearday: u32,
    /// Seconds east of UTC.
    pub utc_offset: i64,
    /// Whether daylight saving time is in effect.
    pub dst: bool,
    /// The zone's abbreviation, e.g. `UTC` or `IST`.
    pub zone: String,
}

/// `secs` since the epoch in the local time zone (`TZ`, else `/etc/localtime`), as
/// `localtime_r(3)` computes it; `None` when it cannot be represented.
pub fn local_time(secs: i64) -> Option<LocalTime> {
    sys::time::localtime(secs).map(|t| LocalTime {
        year: t.year,
        month: t.month,
        day: t.day,
        hour: t.hour,
        minute: t.minute,
        second: t.second,
        weekday: t.weekday,
        yearday: t.yearday,
        utc_offset: t.utc_offset,
        dst: t.dst,
        zone: t.zone,
    })
}

/// Restores the default action of `SIGPIPE`, which Rust programs ignore: a later write to a
/// closed pipe then ends the process, as it ends a C program (`ipcs | head -1`).
///
/// # References
/// - [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html)
pub fn default_sigpipe() {
    sys::time::default_sigpipe();
}

/// Whether process `pid` exists (`kill(pid, 0)`): `Some(false)` when the kernel says
/// there is no such process (`ESRCH`), `Some(true)` when it exists (also when signalling
/// it is not permitted), `None` for a pid that cannot name one process (0 or negative).
///
/// # References
/// - [`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html)
pub fn process_exists(pid: i32) -> Option<bool> {
    if pid <= 0 {
        return None;
    }
    Some(sys::process::process_exists(pid))
}

/// The raw command line of process `pid`: the first `max` bytes of `/proc/PID/cmdline`
/// (arguments separated by NUL bytes), or `None` when it cannot be read (no such process,
/// a kernel thread, no permission).
///
/// # References
/// - [`proc_pid_cmdline(5)`](https://man7.org/linux/man-pages/man5/proc_pid_cmdline.5.html)
pub fn process_command_line(pid: i32, max: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    if pid <= 0 {
        return None;
    }
    let file = std::fs::File::open(format!("/proc/{pid}/cmdline")).ok()?;
    let mut buf = Vec::with_capacity(max.min(1 << 16));
    file.take(max as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The width in columns of the terminal on file descriptor `fd` (`TIOCGWINSZ`), or `None`
/// when `fd` is not a terminal or reports a width of 0.
///
/// # References
/// - [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html)
pub fn terminal_width(fd: i32) -> Option<u16> {
    sys::time::terminal_width(fd).filter(|&w| w > 0)
}

pub use crate::info::{effective_uid, group_name, page_size, user_name};

/// While alive, standard input (a terminal) delivers keys one by one without echo, so that
/// an interactive tool can react to a single key such as `q`; the previous settings come
/// back on drop (also on panic). See [`stdin_keys`].
///
/// # References
/// - [`termios(3)`](https://man7.org/linux/man-pages/man3/termios.3.html)
#[derive(Debug)]
pub struct KeyMode {
    saved: sys::time::SavedTerminal,
}

/// Puts standard input in key-by-key mode; `None` if it is not a terminal.
pub fn stdin_keys() -> Option<KeyMode> {
    sys::time::cbreak(0).map(|saved| KeyMode { saved })
}

impl Drop for KeyMode {
    fn drop(&mut self) {
        sys::time::restore_terminal(0, &self.saved);
    }
}

/// Whether file descriptor `fd` (0 stdin, 1 stdout, 2 stderr) is a terminal (`isatty(3)`).
pub fn is_terminal(fd: i32) -> bool {
    sys::time::isatty(fd)
}
