//! The kernel's ways of waking another process, as baselines: a raw futex ping-pong on two
//! words in the segment, two pipes, a Unix socket pair, two eventfds. Every wait blocks in
//! the kernel; the pipe and the socket carry the message's bytes, the futex and the
//! eventfds carry none.

use super::super::{Error, Result};
use super::control::{word, worker_gone, CHECK_PERIOD, FUTEX_A, FUTEX_B};
use super::job::{check_reply, number, timed, Job};
use super::side::{Io, Side};
use shmkit_os as os;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};

/// Sleeps on `w` until it holds `want`; every [`CHECK_PERIOD`] without a wake-up, checks
/// the worker (in the parent).
fn futex_until(w: &AtomicU32, want: u32, side: &Side<'_>) -> Result<()> {
    loop {
        // Acquire: pairs with the other side's Release store before its FUTEX_WAKE.
        let now = w.load(Ordering::Acquire);
        if now == want {
            return Ok(());
        }
        match os::futex_wait(w, now, Some(CHECK_PERIOD)) {
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => side.spinner.check()?,
            other => other?,
        }
    }
}

/// `futex`, parent: store n in A, FUTEX_WAKE A, FUTEX_WAIT on B until it holds n.
///
/// # Errors
/// The futex's errors; the worker exited.
pub(crate) fn futex_parent(side: &mut Side<'_>, job: &Job, samples: &mut Vec<u64>) -> Result<()> {
    let (a, b) = (word(side.region, FUTEX_A)?, word(side.region, FUTEX_B)?);
    let mut n = a.load(Ordering::Relaxed);
    let side = &*side;
    timed(job.count, samples, || {
        n = n.wrapping_add(1);
        a.store(n, Ordering::Release);
        os::futex_wake(a, 1)?;
        futex_until(b, n, side)
    })
}

/// `futex`, worker: FUTEX_WAIT on A until it moves on, store it in B, FUTEX_WAKE B.
///
/// # Errors
/// The futex's errors.
pub(crate) fn futex_worker(side: &mut Side<'_>, job: &Job) -> Result<()> {
    let (a, b) = (word(side.region, FUTEX_A)?, word(side.region, FUTEX_B)?);
    let mut last = b.load(Ordering::Relaxed);
    for _ in 0..job.count {
        let want = last.wrapping_add(1);
        futex_until(a, want, side)?;
        b.store(want, Ordering::Release);
        os::futex_wake(b, 1)?;
        last = want;
    }
    Ok(())
}

/// A broken stream: the other process closed its end (it exited).
fn stream_error(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            worker_gone()
        } else {
            Error::io(what, e)
        }
    }
}

/// The session's stream: the pipes (read end, write end) or the socket (two handles).
fn streams(io: &mut Io) -> Result<(&mut dyn Read, &mut dyn Write)> {
    match io {
        Io::Pipe { r, w } => Ok((r, w)),
        Io::Uds { r, w } => Ok((r, w)),
        _ => Err(Error::Message(
            "bench: a stream mechanism ran without its pipes or socket".to_owned(),
        )),
    }
}

/// `pipe` and `uds`, parent: write the message, read the reply of the same size.
///
/// # Errors
/// I/O errors; the worker exited (end of file).
pub(crate) fn stream_parent(side: &mut Side<'_>, job: &Job, samples: &mut Vec<u64>) -> Result<()> {
    let size = job.size;
    let Side {
        io,
        buf,
        back,
        counter,
        ..
    } = side;
    let (r, w) = streams(io)?;
    timed(job.count, samples, || {
        *counter += 1;
        let n = *counter;
        let head = buf.len().min(8).min(size);
        buf[..head].copy_from_slice(&n.to_le_bytes()[..head]);
        w.write_all(&buf[..size]).map_err(stream_error("write"))?;
        r.read_exact(&mut back[..size])
            .map_err(stream_error("read"))?;
        check_reply(n, number(&back[..size]), size)
    })
}

/// `pipe` and `uds`, worker: read a message, write it back.
///
/// # Errors
/// I/O errors.
pub(crate) fn stream_worker(side: &mut Side<'_>, job: &Job) -> Result<()> {
    let size = job.size;
    let Side { io, back, .. } = side;
    let (r, w) = streams(io)?;
    for _ in 0..job.count {
        r.read_exact(&mut back[..size])
            .map_err(stream_error("read"))?;
        w.write_all(&back[..size]).map_err(stream_error("write"))?;
    }
    Ok(())
}

/// The session's eventfds: (the one this side writes, the one it reads).
fn eventfds(io: &Io) -> Result<(&os::EventFd, &os::EventFd)> {
    match io {
        Io::EventFd { tx, rx } => Ok((tx, rx)),
        _ => Err(Error::Message(
            "bench: the eventfd mechanism ran without its eventfds".to_owned(),
        )),
    }
}

/// `eventfd`, parent: add 1 to the worker's counter, read ours. Anything but 1 is the
/// watchdog's poke: the worker exited.
///
/// # Errors
/// The eventfds' errors; the worker exited.
pub(crate) fn eventfd_parent(side: &mut Side<'_>, job: &Job, samples: &mut Vec<u64>) -> Result<()> {
    let (tx, rx) = eventfds(&side.io)?;
    timed(job.count, samples, || {
        tx.write(1)?;
        match rx.read()? {
            1 => Ok(()),
            _ => Err(worker_gone()),
        }
    })
}

/// `eventfd`, worker: read our counter, add 1 to the parent's.
///
/// # Errors
/// The eventfds' errors.
pub(crate) fn eventfd_worker(side: &mut Side<'_>, job: &Job) -> Result<()> {
    let (tx, rx) = eventfds(&side.io)?;
    for _ in 0..job.count {
        rx.read()?;
        tx.write(1)?;
    }
    Ok(())
}
