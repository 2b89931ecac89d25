//! The mechanisms `shmkit bench` measures, one entry each.
//!
//! A mechanism is a name (the JSON `name`), the worker session it needs, the payloads and
//! sizes it is measured with, and two functions: `parent` runs `job.count` round trips and
//! records each one's duration, `worker` answers them (both built from what [`super::job`]
//! holds). Adding a mechanism is one pair of functions and one entry in [`MECHANISMS`]; the
//! orchestration, the interleaving with `spin_limit`, the statistics and the output need no
//! change. (A mechanism that needs room in the segment of its own adds it to the layout in
//! `control.rs`.) This file is only the registry: it names the mechanisms' functions, and
//! nothing in them refers back to it.

use super::super::Result;
use super::job::Job;
use super::side::{Payload, Session, Side};
use super::{channel, kernel, pubsub, spin};
use shmkit::channel::Wait;

/// The parent's side of a measurement: `job.count` round trips, each one's duration in
/// nanoseconds pushed to the samples (through [`super::job::timed`], so that every
/// mechanism pays the same timing overhead).
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
