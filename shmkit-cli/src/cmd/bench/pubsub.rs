//! The shmkit publish-subscribe channel (`pubsub_poll`): a 64-byte message published
//! each way per round trip, through two pub-sub channels whose subscribers busy-poll.

use super::super::{Error, Result};
use super::job::{check_reply, number, timed, Job};
use super::side::Side;
use shmkit::channel::pubsub::Check;
use shmkit::channel::Wait;

/// Publishes message number `n` (its first 8 bytes; `size` bytes in all).
fn publish(side: &mut Side<'_>, size: usize, n: u64) -> Result<()> {
    let head = size.min(8);
    side.buf[..head].copy_from_slice(&n.to_le_bytes()[..head]);
    side.publisher.publish(&side.buf[..size])?;
    Ok(())
}

/// Receives the next message (busy-polling), reads it in place, and returns its number. A
/// lost message (the subscriber was lapped) breaks the measurement: there is one message in
/// flight.
fn receive(side: &mut Side<'_>) -> Result<u64> {
    let mut spins = 0;
    loop {
        if let Some(sample) = side.subscriber.try_recv_ref()? {
            // The whole message, as the SPSC rows read theirs (64 bytes: two cache lines
            // with the slot header).
            let mut whole = [0u8; 64];
            let l = sample.len().min(whole.len());
            let check = sample.read_at(0, &mut whole[..l])?;
            if sample.lost() != 0 || check != Check::Intact {
                return Err(Error::Message(format!(
                    "bench: the pub-sub subscriber lost messages ({} lost, {check:?})",
                    sample.lost()
                )));
            }
            return Ok(number(&whole[..l]));
        }
        side.spinner.relax(&mut spins)?;
    }
}

/// `pubsub_poll`, parent: publish a message, receive the reply.
///
/// # Errors
/// The channel's errors; the worker exited.
pub(crate) fn parent(side: &mut Side<'_>, job: &Job, samples: &mut Vec<u64>) -> Result<()> {
    side.subscriber.set_wait(Wait::Poll)?;
    timed(job.count, samples, || {
        side.counter += 1;
        let n = side.counter;
        publish(side, job.size, n)?;
        let got = receive(side)?;
        check_reply(n, got, job.size)
    })
}

/// `pubsub_poll`, worker: receive a message, publish its number back.
///
/// # Errors
/// The channel's errors.
pub(crate) fn worker(side: &mut Side<'_>, job: &Job) -> Result<()> {
    side.subscriber.set_wait(Wait::Poll)?;
    for _ in 0..job.count {
        let n = receive(side)?;
        publish(side, job.size, n)?;
    }
    Ok(())
}
