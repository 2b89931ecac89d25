//! What command-line tools built on this crate need from the operating system besides IPC:
//! local time as libc computes it (so `TZ` and `/etc/localtime` apply exactly as in C
//! tools), user and group names through NSS, and C's behaviour on a closed pipe; and what
//! a benchmark needs to compare shared memory with the kernel's other means of talking
//! between processes: CPU pinning and CPU time, raw futexes, pipes and eventfds.

use crate::error::{Error, Result};
use crate::sys;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

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

/// Runs the calling thread on CPU `cpu` only (`sched_setaffinity(2)` with a one-CPU set,
/// for the calling thread). Threads it starts afterwards inherit the setting.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when `cpu` is not among the CPUs this thread may use
/// (see [`allowed_cpus`]) or beyond `CPU_SETSIZE`.
///
/// # References
/// - [`sched_setaffinity(2)`](https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html)
#[doc(alias = "sched_setaffinity")]
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    sys::sched::pin_to_cpu(cpu)
        .map_err(|e| Error::sys("sched_setaffinity", format!("cpu={cpu}"), e))
}

/// The CPUs the calling thread may run on (its affinity mask, `sched_getaffinity(2)`),
/// in increasing order.
///
/// # Errors
/// The errno of `sched_getaffinity` (none is expected for the calling thread).
///
/// # References
/// - [`sched_getaffinity(2)`](https://man7.org/linux/man-pages/man2/sched_getaffinity.2.html)
#[doc(alias = "sched_getaffinity")]
pub fn allowed_cpus() -> Result<Vec<usize>> {
    sys::sched::allowed_cpus().map_err(|e| Error::sys("sched_getaffinity", "pid=0".to_owned(), e))
}

/// The CPU time this process has used so far, user plus system, all threads
/// (`getrusage(RUSAGE_SELF)`). The kernel accounts it in ticks or finer, depending on its
/// configuration.
///
/// # Errors
/// The errno of `getrusage` (none is expected).
///
/// # References
/// - [`getrusage(2)`](https://man7.org/linux/man-pages/man2/getrusage.2.html)
#[doc(alias = "getrusage")]
pub fn cpu_time() -> Result<Duration> {
    let (user, system) =
        sys::sched::cpu_time().map_err(|e| Error::sys("getrusage", "RUSAGE_SELF".to_owned(), e))?;
    Ok(user + system)
}

/// Asks the kernel to kill this process (`SIGKILL`) when the thread that created it exits
/// (`prctl(PR_SET_PDEATHSIG)`): a helper process then cannot outlive the program that
/// started it, however that program ends. The setting does not survive `fork`; it does
/// survive `execve`. A parent that died before this call is not noticed: compare
/// [`std::os::unix::process::parent_id`] with the expected pid afterwards.
///
/// # Errors
/// The errno of `prctl` (none is expected).
///
/// # References
/// - [`prctl(2)`](https://man7.org/linux/man-pages/man2/prctl.2.html), `PR_SET_PDEATHSIG`
#[doc(alias = "PR_SET_PDEATHSIG")]
pub fn kill_on_parent_death() -> Result<()> {
    sys::process::kill_on_parent_death()
        .map_err(|e| Error::sys("prctl", "PR_SET_PDEATHSIG, SIGKILL".to_owned(), e))
}

/// Sleeps while `word` holds `expected`, until [`futex_wake`] wakes it or `timeout` (if
/// any) runs out: `futex(2)` `FUTEX_WAIT` without `FUTEX_PRIVATE_FLAG`, so a word in a
/// shared segment works between processes that map it at different addresses.
///
/// Returns `Ok(())` when woken, when `word` did not hold `expected` on entry (`EAGAIN`),
/// and when a signal interrupted the sleep (`EINTR`); as with every futex, the caller
/// checks the word again, since wake-ups can be spurious.
///
/// # Errors
/// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when `timeout` ran out.
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
/// - Ulrich Drepper, "Futexes Are Tricky" (2011)
#[doc(alias = "FUTEX_WAIT")]
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Result<()> {
    match sys::futex::wait(word, expected, timeout) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw(), sys::EAGAIN | sys::EINTR) => Ok(()),
        Err(e) => Err(Error::sys(
            "futex",
            format!("FUTEX_WAIT, expected={expected}, timeout={timeout:?}"),
            e,
        )),
    }
}

/// Wakes up to `count` threads or processes sleeping in [`futex_wait`] on `word`
/// (`futex(2)` `FUTEX_WAKE`, shared); returns how many it woke.
///
/// # Errors
/// The errno of `futex` (none is expected for a mapped, aligned word).
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
#[doc(alias = "FUTEX_WAKE")]
pub fn futex_wake(word: &AtomicU32, count: u32) -> Result<usize> {
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    sys::futex::wake(word, count)
        .map_err(|e| Error::sys("futex", format!("FUTEX_WAKE, count={count}"), e))
}

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
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when the descriptor is not an eventfd; the errno of
    /// `read` otherwise.
    pub fn read(&self) -> Result<u64> {
        sys::fd::read_u64(self.fd.as_fd()).map_err(|e| Error::sys("read", "eventfd".to_owned(), e))
    }

    /// Adds `value` to the counter, waking a reader (an 8-byte `write(2)`); waits if the
    /// sum would overflow.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for `u64::MAX` or a descriptor that is not an
    /// eventfd; the errno of `write` otherwise.
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
    /// reads and writes fail with [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if it is not.
    fn from(fd: OwnedFd) -> EventFd {
        EventFd { fd }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::sync::atomic::Ordering;

    #[test]
    fn pinning_to_an_allowed_cpu_keeps_the_thread_there() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        let last = *cpus.last().unwrap();
        // A thread of its own, so the test harness's other threads keep their mask.
        std::thread::spawn(move || {
            pin_to_cpu(last).unwrap();
            assert_eq!(allowed_cpus().unwrap(), vec![last]);
            assert_eq!(
                pin_to_cpu(sys::sched::CPU_SETSIZE).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_time().unwrap();
        let mut x = 0u64;
        // Busy work until the kernel has accounted some of it (a tick at most).
        while cpu_time().unwrap() == before {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_time().unwrap() > before);
    }

    #[test]
    fn futex_wait_returns_at_once_for_a_changed_word_and_times_out_otherwise() {
        let word = AtomicU32::new(7);
        futex_wait(&word, 6, None).unwrap();
        let err = futex_wait(&word, 7, Some(Duration::from_millis(1))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(futex_wake(&word, 1).unwrap(), 0);
    }

    #[test]
    fn futex_wake_wakes_a_waiting_thread() {
        let word = std::sync::Arc::new(AtomicU32::new(0));
        let waiter = {
            let word = std::sync::Arc::clone(&word);
            std::thread::spawn(move || {
                while word.load(Ordering::Acquire) == 0 {
                    futex_wait(&word, 0, None).unwrap();
                }
            })
        };
        word.store(1, Ordering::Release);
        futex_wake(&word, 1).unwrap();
        waiter.join().unwrap();
    }

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
            ErrorKind::InvalidArgument
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
            ErrorKind::InvalidArgument
        );
    }
}
