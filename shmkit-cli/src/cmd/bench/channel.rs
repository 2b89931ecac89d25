//! The shmkit SPSC channel: latency (a message each way per round trip), throughput
//! (messages streamed one way) and the CPU an idle receiver uses.

use super::super::{Error, Result};
use super::control::{Control, OP_DRAIN};
use super::job::{check_reply, line_len, number, stamp, timed, Job};
use super::side::{Payload, Side};
use shmkit::channel::{TrySendError, Wait};
use shmkit::ErrorKind;
use shmkit_os as os;
use std::time::{Duration, Instant};

/// Sends message number `n` of `size` bytes: zero-copy (loan, write the first and the last
/// cache line, commit) or copy (`try_send` of a buffer stamped with `n`). Waits (busy) while
/// the ring is full.
fn send(side: &mut Side<'_>, payload: Payload, size: usize, n: u64) -> Result<()> {
    let mut spins = 0;
    match payload {
        Payload::ZeroCopy => loop {
            match side.tx.loan(size) {
                Ok(loan) => {
                    let line = stamp(n);
                    let l = line_len(size);
                    loan.write_at(0, &line[..l])?;
                    if size > l {
                        loan.write_at(size - l, &line[..l])?;
                    }
                    loan.commit();
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => side.spinner.relax(&mut spins)?,
                Err(e) => return Err(e.into()),
            }
        },
        Payload::InPlace => loop {
            match side.tx.loan(size) {
                Ok(loan) => {
                    let head = size.min(8);
                    side.buf[..head].copy_from_slice(&n.to_le_bytes()[..head]);
                    loan.write_at(0, &side.buf[..size])?;
                    loan.commit();
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => side.spinner.relax(&mut spins)?,
                Err(e) => return Err(e.into()),
            }
        },
        _ => {
            let head = size.min(8);
            side.buf[..head].copy_from_slice(&n.to_le_bytes()[..head]);
            loop {
                match side.tx.try_send(&side.buf[..size]) {
                    Ok(()) => return Ok(()),
                    Err(TrySendError::Full(_)) => side.spinner.relax(&mut spins)?,
                    Err(e) => return Err(e.into_error().into()),
                }
            }
        }
    }
}

/// Receives a message of `size` bytes (waiting as the receiver's mode says) and returns
/// its number: zero-copy (read the first and the last cache line in place, release) or copy
/// (`recv` into a `Vec`).
fn receive(side: &mut Side<'_>, payload: Payload, size: usize) -> Result<u64> {
    let len = match payload {
        Payload::ZeroCopy => {
            let msg = side.rx.recv_ref()?;
            let len = msg.len();
            let l = line_len(len);
            let (mut first, mut last) = ([0u8; 64], [0u8; 64]);
            msg.read_at(0, &mut first[..l])?;
            msg.read_at(len - l, &mut last[..l])?;
            if len == size {
                return Ok(number(&first[..l]));
            }
            len
        }
        Payload::InPlace => {
            let msg = side.rx.recv_ref()?;
            let len = msg.len();
            let mut window = [0u8; 4096];
            let mut at = 0;
            while at < len {
                let n = (len - at).min(window.len());
                msg.read_at(at, &mut window[..n])?;
                std::hint::black_box(&window);
                at += n;
            }
            if len == size {
                let mut first = [0u8; 8];
                let l = len.min(8);
                msg.read_at(0, &mut first[..l])?;
                return Ok(number(&first[..l]));
            }
            len
        }
        _ => {
            let len = side.rx.recv(&mut side.back)?;
            if len == size {
                return Ok(number(&side.back[..len]));
            }
            len
        }
    };
    Err(Error::Message(format!(
        "bench: received a message of {len} bytes, expected {size}"
    )))
}

/// `spsc_*`, parent: send a message, receive the reply.
///
/// # Errors
/// The channel's errors; the worker exited.
pub(crate) fn parent(side: &mut Side<'_>, job: &Job, samples: &mut Vec<u64>) -> Result<()> {
    side.rx.set_wait(job.wait);
    timed(job.count, samples, || {
        side.counter += 1;
        let n = side.counter;
        send(side, job.payload, job.size, n)?;
        let got = receive(side, job.payload, job.size)?;
        check_reply(n, got, job.size)
    })
}

/// `spsc_*`, worker: receive a message, send it back (its number, the same size).
///
/// # Errors
/// The channel's errors.
pub(crate) fn worker(side: &mut Side<'_>, job: &Job) -> Result<()> {
    side.rx.set_wait(job.wait);
    for _ in 0..job.count {
        let n = receive(side, job.payload, job.size)?;
        send(side, job.payload, job.size, n)?;
    }
    Ok(())
}

/// Throughput, parent: streams `count` messages of `size` bytes to the worker, which
/// receives them busy-polling; returns the time from the first send until the worker
/// reported the last one received.
///
/// # Errors
/// The channel's errors; the worker exited.
pub(crate) fn stream(
    side: &mut Side<'_>,
    control: &mut Control<'_>,
    payload: Payload,
    size: usize,
    count: u64,
) -> Result<Duration> {
    let seq = control.post(OP_DRAIN, payload.code(), size as u64, count)?;
    control.await_ack(seq, &side.spinner)?;
    let start = Instant::now();
    for _ in 0..count {
        side.counter += 1;
        let n = side.counter;
        send(side, payload, size, n)?;
    }
    control.await_done(seq, &side.spinner)?;
    Ok(start.elapsed())
}

/// Throughput, worker: receives `count` messages busy-polling.
///
/// # Errors
/// The channel's errors.
pub(crate) fn drain(side: &mut Side<'_>, payload: Payload, size: usize, count: u64) -> Result<()> {
    side.rx.set_wait(Wait::Poll);
    for _ in 0..count {
        receive(side, payload, size)?;
    }
    Ok(())
}

/// Idle CPU, worker: waits `wait`-style for a message that does not come, for `period`;
/// returns (CPU time used, wall time) in nanoseconds.
///
/// # Errors
/// A message arrived; the channel's errors.
pub(crate) fn idle(side: &mut Side<'_>, wait: Wait, period: Duration) -> Result<(u64, u64)> {
    side.rx.set_wait(wait);
    let cpu = os::cpu_time()?;
    let start = Instant::now();
    match side.rx.recv_timeout(&mut side.back, period) {
        Err(e) if e.kind() == ErrorKind::TimedOut => {}
        Err(e) => return Err(e.into()),
        Ok(len) => {
            return Err(Error::Message(format!(
                "bench: a message of {len} bytes arrived while measuring an idle receiver"
            )))
        }
    }
    let wall = start.elapsed();
    let used = os::cpu_time()?.saturating_sub(cpu);
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    Ok((ns(used), ns(wall)))
}
