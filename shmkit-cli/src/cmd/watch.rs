//! `shmkit watch`: `ls`, refreshed every interval until `q`, Ctrl-C or `--count`.
//!
//! On a terminal each refresh clears the screen (ANSI `ESC [H ESC [2J`) and redraws a
//! header line and the listing; standard input, when it is a terminal too, is read key by
//! key (`shmkit_os::stdin_keys`) by a thread of its own, so that `q` quits at once. When
//! standard output is not a terminal, each refresh is printed plainly after the one before
//! (a blank line between text listings; with `--json` one compact JSON document per line,
//! JSON Lines), which suits logs and scripts; `--count N` stops after N refreshes.
//!
//! Between refreshes the main thread waits on a channel, with the interval as timeout,
//! for the key thread or the signal thread: quitting never waits for the interval to end.
//! `q` and Ctrl-C (`SIGINT`) end with status 0; `SIGTERM` and `SIGHUP` with 128 + the
//! signal number. The terminal's settings are restored in every case.

use super::{ls, Error, Out, Result};
use crate::format;
use crate::objects::{self, Kinds, Processes};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::{self, Read};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How to watch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// The kinds to list.
    pub(crate) kinds: Kinds,
    /// The time between refreshes.
    pub(crate) interval: Duration,
    /// Stop after this many refreshes.
    pub(crate) count: Option<u64>,
    /// JSON instead of tables.
    pub(crate) json: bool,
}

/// Why the watch ends early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quit {
    /// The `q` key.
    Key,
    /// A signal.
    Signal(i32),
}

/// Watches until `q`, a signal, a closed pipe or `count` refreshes.
///
/// # Errors
/// The library's listing errors; failing to install the signal handlers or start a
/// thread; write errors. On `SIGTERM` or `SIGHUP` the process exits with 128 + the
/// signal number after restoring the terminal.
pub(crate) fn run(out: &mut Out, options: Options) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::io("installing signal handlers", e))?;
    let signal_handle = signals.handle();
    let signal_tx = tx.clone();
    std::thread::Builder::new()
        .name("watch-signals".to_owned())
        .spawn(move || {
            if let Some(signo) = signals.forever().next() {
                let _ = signal_tx.send(Quit::Signal(signo));
            }
        })
        .map_err(|e| Error::io("starting the signal thread", e))?;

    let screen = shmkit_os::is_terminal(1);
    // Key-by-key input only where a person can type: both ends are a terminal.
    let keys = if screen {
        shmkit_os::stdin_keys()
    } else {
        None
    };
    if keys.is_some() {
        read_keys(tx.clone())?;
    }

    let result = refresh_loop(out, &options, screen, &rx);
    signal_handle.close();
    drop(keys); // the terminal's settings come back here
    match result {
        Ok(Some(Quit::Signal(signo))) if signo != SIGINT => std::process::exit(128 + signo),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Starts the thread that reads keys from standard input and reports `q`.
fn read_keys(tx: Sender<Quit>) -> Result<()> {
    std::thread::Builder::new()
        .name("watch-keys".to_owned())
        .spawn(move || {
            let mut byte = [0u8; 1];
            let mut stdin = io::stdin().lock();
            // Ends at end of input or a read error: then only signals can quit.
            while let Ok(1) = stdin.read(&mut byte) {
                if matches!(byte[0], b'q' | b'Q') {
                    let _ = tx.send(Quit::Key);
                    return;
                }
            }
        })
        .map_err(|e| Error::io("starting the key thread", e))?;
    Ok(())
}

/// Refreshes until told to quit (returned), `count` refreshes, or a closed pipe.
fn refresh_loop(
    out: &mut Out,
    options: &Options,
    screen: bool,
    rx: &mpsc::Receiver<Quit>,
) -> Result<Option<Quit>> {
    let procs = Processes::new();
    let mut done: u64 = 0;
    loop {
        // Each refresh asks for the names again: users and groups may change while watching.
        crate::names::forget();
        let objects = objects::list(options.kinds, &procs)?;
        if screen {
            let mut text = String::from("\x1b[H\x1b[2J");
            text.push_str(&header(options));
            text.push_str("\n\n");
            push_listing(&mut text, options, &objects);
            out.bytes(text.as_bytes())?;
        } else if options.json {
            out.json(&ls::to_json(options.kinds, &objects), true)?;
        } else {
            if done > 0 {
                out.line("")?;
            }
            for line in ls::text_lines(options.kinds, &objects) {
                out.line(line)?;
            }
        }
        done += 1;
        if out.is_closed() || options.count.is_some_and(|count| done >= count) {
            return Ok(None);
        }
        match rx.recv_timeout(options.interval) {
            Ok(quit) => return Ok(Some(quit)),
            Err(RecvTimeoutError::Timeout) => {}
            // The senders live as long as their threads; the signal thread outlives this
            // loop, so this does not happen. Quitting is the safe answer if it does.
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        }
    }
}

/// The screen's first line: what is shown, how often, the time, how to quit.
fn header(options: &Options) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    format!(
        "Every {}s: shmkit ls{}    {}    (q or Ctrl-C quits)",
        options.interval.as_secs_f64(),
        if options.json { " --json" } else { "" },
        format::time(now)
    )
}

/// The listing as screen text.
fn push_listing(text: &mut String, options: &Options, objects: &[objects::Object]) {
    if options.json {
        text.push_str(&format!("{:#}\n", ls::to_json(options.kinds, objects)));
        return;
    }
    for line in ls::text_lines(options.kinds, objects) {
        text.push_str(&line);
        text.push('\n');
    }
}

/// Parses the interval: seconds, fractions allowed (`0.5`), more than 0.
///
/// # Errors
/// A message for clap to show after the value.
pub(crate) fn parse_interval(text: &str) -> Result<Duration, String> {
    let bad = || "expected a number of seconds greater than 0, like 1 or 0.5".to_owned();
    let secs: f64 = text.parse().map_err(|_| bad())?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::parse_interval;
    use std::time::Duration;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "", "x", "inf", "NaN", "1e300"] {
            assert!(parse_interval(bad).is_err(), "{bad:?} parsed");
        }
    }
}
