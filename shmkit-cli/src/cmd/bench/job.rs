//! What every mechanism's two sides share: the job they are given, the timing of each round
//! trip, and the numbering of messages (so that a reply that is not the answer to the
//! message sent is caught).

use super::super::{Error, Result};
use super::side::Payload;
use shmkit::channel::Wait;
use std::time::Instant;

/// What one measurement asks of a mechanism.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Job {
    /// The message size in bytes (ignored by mechanisms without a payload).
    pub(crate) size: usize,
    /// How many round trips.
    pub(crate) count: u64,
    /// How the bytes travel.
    pub(crate) payload: Payload,
    /// How a channel's receivers wait (the mechanism's own).
    pub(crate) wait: Wait,
}

/// Runs `once` `count` times, pushing each run's duration in nanoseconds: the same two
/// clock reads around every round trip of every mechanism.
#[inline]
pub(crate) fn timed(
    count: u64,
    samples: &mut Vec<u64>,
    mut once: impl FnMut() -> Result<()>,
) -> Result<()> {
    for _ in 0..count {
        let start = Instant::now();
        once()?;
        samples.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    Ok(())
}

/// How many bytes of a message of `size` bytes are written and read at each end in
/// zero-copy mode: one cache line, or the whole message if smaller.
pub(crate) fn line_len(size: usize) -> usize {
    size.min(64)
}

/// The first cache line of message number `n`: the number in its first 8 bytes.
pub(crate) fn stamp(n: u64) -> [u8; 64] {
    let mut line = [0x5a; 64];
    line[..8].copy_from_slice(&n.to_le_bytes());
    line
}

/// The message number in a received first line (0 when the message is shorter than 8
/// bytes and cannot carry one).
pub(crate) fn number(first: &[u8]) -> u64 {
    first
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Checks that the reply to message `sent` (of `size` bytes) carried `sent` back.
///
/// # Errors
/// A reply that carried another number: the measurement is broken.
pub(crate) fn check_reply(sent: u64, got: u64, size: usize) -> Result<()> {
    if size >= 8 && sent != got {
        return Err(Error::Message(format!(
            "bench: the reply to message {sent} carried number {got}"
        )));
    }
    Ok(())
}
