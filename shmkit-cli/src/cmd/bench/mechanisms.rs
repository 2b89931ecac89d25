//! The mechanisms `shmkit bench` measures, one entry each.
//!
//! A mechanism is a name (the JSON `name`), the worker session it needs, the payloads and
//! sizes it is measured with, and two functions: `parent` runs `job.count` round trips and
//! records each one's duration, `worker` answers them. Adding a mechanism is one pair of
//! functions and one entry in [`MECHANISMS`]; the orchestration, the interleaving with
//! `spin_limit`, the statistics and the output need no change. (A mechanism that needs room
//! in the segment of its own adds it to the layout in `control.rs`.)

use super::super::{Error, Result};
use super::side::{Payload, Session, Side};
use super::{channel, kernel, pubsub, spin};
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

/// The parent's side of a measurement: `job.count` round trips, each one's duration in
/// nanoseconds pushed to the samples (through [`timed`], so that every mechanism pays the
/// same timing overhead).
pub(crate) type ParentFn = fn(&mut Side<'_>, &Job, &mut Vec<u64>) -> Result<()>;
/// The worker's side: answers `job.count` round trips.
pub(crate) type WorkerFn = fn(&mut Side<'_>, &Job) -> Result<()>;

/// One mechanism.
#[derive(Debug)]
pub(crate) struct Mechanism {
    /// The name in the output (JSON `name`).
    pub(crate) name: &'static str,
    /// The worker it needs.
    pub(crate) session: Session,
    /// The payloads it is measured with, in this order.
    pub(crate) payloads: &'static [Payload],
    /// Whether it is measured at every size of the sweep (else at 64 bytes only).
    pub(crate) sweep: bool,
    /// How its channel receivers wait (for the SPSC channel; ignored otherwise).
    pub(crate) wait: Wait,
    /// What the row means, for the table's notes.
    pub(crate) note: &'static str,
    /// The parent's side.
    pub(crate) parent: ParentFn,
    /// The worker's side.
    pub(crate) worker: WorkerFn,
}

/// Index of the baseline, `spin_limit`, in [`MECHANISMS`].
pub(crate) const SPIN_LIMIT: usize = 0;

const ZERO_COPY_AND_COPY: &[Payload] = &[Payload::ZeroCopy, Payload::Copy];

/// Every mechanism, in output order. `spin_limit` first: every other one is measured in
/// rounds alternating with it.
pub(crate) const MECHANISMS: &[Mechanism] = &[
    Mechanism {
        name: "spin_limit",
        session: Session::Shm,
        payloads: &[Payload::None],
        sweep: false,
        wait: Wait::Poll,
        note: "bare cache-line ping-pong in the segment, one word each way: the limit",
        parent: spin::parent,
        worker: spin::worker,
    },
    Mechanism {
        name: "spsc_poll",
        session: Session::Shm,
        payloads: ZERO_COPY_AND_COPY,
        sweep: true,
        wait: Wait::Poll,
        note: "shmkit SPSC channel, receivers busy-poll",
        parent: channel::parent,
        worker: channel::worker,
    },
    Mechanism {
        name: "spsc_block",
        session: Session::Shm,
        payloads: ZERO_COPY_AND_COPY,
        sweep: true,
        wait: Wait::Block,
        note: "shmkit SPSC channel, receivers block on the futex",
        parent: channel::parent,
        worker: channel::worker,
    },
    Mechanism {
        name: "spsc_adaptive",
        session: Session::Shm,
        payloads: ZERO_COPY_AND_COPY,
        sweep: true,
        wait: Wait::Adaptive { spins: 4096 },
        note: "shmkit SPSC channel, receivers spin 4096 polls then block",
        parent: channel::parent,
        worker: channel::worker,
    },
    Mechanism {
        name: "pubsub_poll",
        session: Session::Shm,
        payloads: &[Payload::Copy],
        sweep: false,
        wait: Wait::Poll,
        note: "shmkit pub-sub channel (64 slots of 64 bytes), subscribers busy-poll: publish, read the 64 bytes in place",
        parent: pubsub::parent,
        worker: pubsub::worker,
    },
    Mechanism {
        name: "futex",
        session: Session::Shm,
        payloads: &[Payload::None],
        sweep: false,
        wait: Wait::Block,
        note: "raw FUTEX_WAKE/FUTEX_WAIT ping-pong on two words in the segment, no payload",
        parent: kernel::futex_parent,
        worker: kernel::futex_worker,
    },
    Mechanism {
        name: "pipe",
        session: Session::Pipe,
        payloads: &[Payload::Copy],
        sweep: true,
        wait: Wait::Block,
        note: "two pipes, blocking write and read",
        parent: kernel::stream_parent,
        worker: kernel::stream_worker,
    },
    Mechanism {
        name: "uds",
        session: Session::Uds,
        payloads: &[Payload::Copy],
        sweep: true,
        wait: Wait::Block,
        note: "a Unix stream socket pair, blocking write and read",
        parent: kernel::stream_parent,
        worker: kernel::stream_worker,
    },
    Mechanism {
        name: "eventfd",
        session: Session::Eventfd,
        payloads: &[Payload::None],
        sweep: false,
        wait: Wait::Block,
        note: "two eventfds, blocking write and read of the 8-byte counter, no payload",
        parent: kernel::eventfd_parent,
        worker: kernel::eventfd_worker,
    },
];

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
