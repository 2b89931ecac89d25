//! The hostile-peer soak's processes (see `tests/hostile_soak.rs`): the board they share,
//! the structures and their words, the scribbler and the victims.

mod board;
mod layout;
mod scribbler;
mod victims;

pub(crate) use board::*;
pub(crate) use layout::*;
pub(crate) use scribbler::*;
pub(crate) use victims::*;

pub(crate) use super::common;

pub(crate) use shmkit::channel::mpmc::{self, Consumer, Producer};
pub(crate) use shmkit::channel::named::NamedChannel;
pub(crate) use shmkit::channel::pubsub::{self, Publisher, Subscriber};
pub(crate) use shmkit::channel::{spsc, Receiver, Sender, Wait};
pub(crate) use shmkit::sync::{Condvar, Event, LockError, MutexGuard, RobustMutex, SeqLock};
pub(crate) use shmkit::{Attachment, ErrorKind, ReadOnly, ReadWrite, Region, Segment, ShmId};
pub(crate) use std::collections::BTreeMap;
pub(crate) use std::panic::{catch_unwind, AssertUnwindSafe};
pub(crate) use std::process::Command;
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
pub(crate) use std::time::{Duration, Instant};

common::probe::probe_enum! {
    /// What a soak child process is: the scribbler or a victim. Its report is one line
    /// `SOAK-REPORT key=value …` (see `parse_report` in `hostile_soak.rs`).
    pub(crate) enum SoakProbe {
        /// Write hostile values into every word of the `kind` structure in `segment`,
        /// coordinating with the victims on the board in `board`.
        Scribbler { kind: Kind, segment: ShmId, board: ShmId, seed: u64 },
        /// Do `role`'s calls on the structure in `segment` (or the named channel `name`),
        /// noting each call on the board in `board`, in `slot`.
        Victim {
            role: Role,
            segment: ShmId,
            board: ShmId,
            slot: usize,
            seed: u64,
            name: Option<String>,
        },
    }
}

impl common::probe::Probe for SoakProbe {
    const FAMILY: &'static str = "SoakProbe";

    fn run(self) {
        let report = match self {
            SoakProbe::Scribbler {
                kind,
                segment,
                board,
                seed,
            } => scribbler_main(kind, segment, board, seed),
            SoakProbe::Victim {
                role,
                segment,
                board,
                slot,
                seed,
                name,
            } => victim_main(role, segment, board, slot, seed, name.as_deref()),
        };
        println!("SOAK-REPORT {report}");
    }
}

/// The requirement under test, not a speed claim: every call returns within its timeout
/// plus this (calls that do not wait: within this). Generous, so that a loaded machine does
/// not fail it; a call that spins past its deadline, or never returns, does.
pub(crate) const BOUND: Duration = Duration::from_secs(2);
/// How much slower code runs under valgrind than natively, for the bounds (valgrind
/// serialises threads and instruments every instruction: 20 to 50 times slower).
pub(crate) const VALGRIND_SLOWDOWN: u32 = 25;
/// After the scribbler stopped: how long a call that waits without a timeout may wait
/// before this process restores the structure and wakes it, as a well-behaved peer would.
pub(crate) const GRACE: Duration = Duration::from_millis(500);
/// While the scribbler runs: how long a call that waits without a timeout may wait. A
/// hostile value can keep it waiting (a lock word that names a holder, no notification),
/// but the scribbler puts the lock state back and wakes the futex words after most values
/// and before every word (well under a second apart), and the victims notify each other:
/// a correct call returns soon after. One still waiting after this (plus the bound) is a
/// hang.
pub(crate) const UNTIMED_LIMIT: Duration = Duration::from_secs(10);
/// After the scribbler stopped: how long the victims have to finish their last call and
/// exit (plus the bound). A victim still running then is a hang.
pub(crate) const HANG_LIMIT: Duration = Duration::from_secs(30);
/// How long the scribbler waits for the victims to make progress after a write before it
/// goes on anyway (a victim can be inside a timed wait).
pub(crate) const PROGRESS_WAIT: Duration = Duration::from_millis(100);
/// The timeouts the victims give their timed calls.
pub(crate) const TIMEOUTS: [Duration; 3] = [
    Duration::from_millis(1),
    Duration::from_millis(2),
    Duration::from_millis(5),
];
/// Random writes per pass (fewer under valgrind).
pub(crate) const RANDOM_WRITES: usize = 1000;
pub(crate) const RANDOM_WRITES_VALGRIND: usize = 300;
/// Hostile values per word under valgrind (natively: all of them, 50 to 90 per word).
pub(crate) const VALUES_PER_WORD_VALGRIND: usize = 12;

/// Shapes of the structures.
pub(crate) const SPSC_CAP: usize = 1024;
pub(crate) const MPMC_CAP: usize = 8;
pub(crate) const MPMC_MSG: usize = 48;
pub(crate) const PS_SLOTS: usize = 8;
pub(crate) const PS_SLOT_SIZE: usize = 64;
pub(crate) type Value = [u64; 3];
pub(crate) type SeqValue = [u64; 8];
/// Where the condition-variable soak puts its structures.
pub(crate) const CV_MUTEX_AT: usize = 0;
pub(crate) const CV_AT: usize = 128;
pub(crate) const EVENT_AT: usize = 256;
/// Where the channel starts in a named segment (after the name block).
pub(crate) const NAMED_CHANNEL: usize = 256;
/// How long a named open waits for a channel being laid out (`named::READY_WAIT`), which
/// is its timeout.
pub(crate) const NAMED_READY_WAIT: Duration = Duration::from_secs(2);

pub(crate) fn under_valgrind() -> bool {
    std::env::var_os("SHMKIT_SOAK_VALGRIND").is_some_and(|v| v != "0" && !v.is_empty())
}

/// `d`, multiplied by [`VALGRIND_SLOWDOWN`] under valgrind.
pub(crate) fn scaled(d: Duration) -> Duration {
    if under_valgrind() {
        d * VALGRIND_SLOWDOWN
    } else {
        d
    }
}

pub(crate) fn rounds() -> usize {
    std::env::var("SOAK_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// A small xorshift generator.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock `Instant` uses, the same in every process.
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub(crate) fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// Wakes every waiter on the futex word `word` (shared, not private). An error (none is
/// expected for a mapped, aligned word) is ignored, as the raw call's was.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    let _ = shmkit_os::futex_wake(word, u32::MAX);
}
