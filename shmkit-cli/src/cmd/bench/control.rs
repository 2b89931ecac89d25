//! The segment the two processes share, and the command protocol on its first page.
//!
//! Layout (byte offsets; each hot word on a 128-byte line of its own, so that the words one
//! side writes never share a cache line, or an adjacent-line prefetch pair, with the
//! other's):
//!
//! | offset | size | field                                                          |
//! |-------:|-----:|----------------------------------------------------------------|
//! | 0      | 4    | command sequence number (parent writes; the worker futex-waits) |
//! | 4      | 4    | command: what to do                                             |
//! | 8      | 4    | command: payload (none, copy, zero-copy) or wait mode            |
//! | 16     | 8    | command: message size in bytes (or a duration in milliseconds)  |
//! | 24     | 8    | command: count (round trips or messages)                        |
//! | 128    | 4    | acknowledged sequence number (worker writes; the parent waits)   |
//! | 136    | 8    | acknowledgement: first value (CPU time in ns for idle)           |
//! | 144    | 8    | acknowledgement: second value (wall time in ns for idle)         |
//! | 256    | 4    | done sequence number (worker, at the end of a throughput drain)  |
//! | 384    | 4    | `spin_limit` ping (parent writes)                                |
//! | 512    | 4    | `spin_limit` pong (worker writes)                                |
//! | 640    | 4    | `futex` word A (parent writes and wakes)                         |
//! | 768    | 4    | `futex` word B (worker writes and wakes)                         |
//! | 896    | 4    | hello: the pid of the worker that is ready for commands          |
//! | 4096   |      | SPSC channel parent → worker, then SPSC channel worker → parent  |
//!
//! The worker treats the command as untrusted input (the hostile-peer rule): it reads each
//! field once and checks it before use.

use super::super::{Error, Result};
use shmkit::channel::{pubsub, spsc, Wait};
use shmkit::Region;
use shmkit_os as os;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CMD_SEQ: usize = 0;
const CMD_OP: usize = 4;
const CMD_ARG: usize = 8;
const CMD_SIZE: usize = 16;
const CMD_COUNT: usize = 24;
const ACK_SEQ: usize = 128;
const ACK_A: usize = 136;
const ACK_B: usize = 144;
const DONE_SEQ: usize = 256;
/// The `spin_limit` words.
pub(crate) const PING: usize = 384;
pub(crate) const PONG: usize = 512;
/// The `futex` words.
pub(crate) const FUTEX_A: usize = 640;
pub(crate) const FUTEX_B: usize = 768;
const HELLO: usize = 896;
/// Where the first channel starts.
pub(crate) const CHANNELS: usize = 4096;

/// Command: acknowledge and exit.
pub(crate) const OP_QUIT: u32 = 0x1000;
/// Command: wait idle on the channel (arg: wait mode; size: milliseconds), acknowledge
/// with the CPU and wall time used.
pub(crate) const OP_IDLE: u32 = 0x1001;
/// Command: acknowledge, receive `count` messages (arg: payload) busy-polling, mark done.
pub(crate) const OP_DRAIN: u32 = 0x1002;
// Commands below MECHANISMS.len(): acknowledge, then run that mechanism's worker side.

/// The code of a wait mode in a command.
pub(crate) fn wait_code(wait: Wait) -> u32 {
    match wait {
        Wait::Poll => 0,
        Wait::Block => 1,
        Wait::Adaptive { .. } => 2,
    }
}

/// The wait mode of a code in a command (`None` for an unknown code).
pub(crate) fn wait_from(code: u32) -> Option<Wait> {
    match code {
        0 => Some(Wait::Poll),
        1 => Some(Wait::Block),
        2 => Some(Wait::default()),
        _ => None,
    }
}

/// How long a blocked wait sleeps at most before it checks that the peer still runs.
pub(crate) const CHECK_PERIOD: Duration = Duration::from_millis(20);

/// Slots of each `pubsub_poll` channel.
pub(crate) const PUBSUB_SLOTS: usize = 64;
/// Slot size of each `pubsub_poll` channel: the 64-byte messages.
pub(crate) const PUBSUB_SLOT_SIZE: usize = 64;

/// The segment size for two SPSC channels of `capacity` bytes and the two pub-sub channels.
pub(crate) fn segment_size(capacity: usize) -> usize {
    pubsub_to_parent(capacity) + pubsub::size_for(PUBSUB_SLOTS, PUBSUB_SLOT_SIZE)
}

/// The offset of the pub-sub channel from the parent to the worker.
pub(crate) fn pubsub_to_worker(capacity: usize) -> usize {
    CHANNELS + 2 * spsc::size_for(capacity)
}

/// The offset of the pub-sub channel from the worker to the parent.
pub(crate) fn pubsub_to_parent(capacity: usize) -> usize {
    pubsub_to_worker(capacity) + pubsub::size_for(PUBSUB_SLOTS, PUBSUB_SLOT_SIZE)
}

/// The offset of the channel from the parent to the worker.
pub(crate) fn to_worker() -> usize {
    CHANNELS
}

/// The offset of the channel from the worker to the parent, given the first one's capacity.
pub(crate) fn to_parent(capacity: usize) -> usize {
    CHANNELS + spsc::size_for(capacity)
}

/// A word of the control page.
pub(crate) fn word(region: &Region, at: usize) -> Result<&AtomicU32> {
    Ok(region.atomic_u32(at)?)
}

fn word64(region: &Region, at: usize) -> Result<&AtomicU64> {
    Ok(region.atomic_u64(at)?)
}

/// How a process waits for the other in a busy loop: a spin hint per poll (or a
/// `sched_yield` when both share one CPU), and in the parent, every so many polls, a look
/// at whether the worker has exited, so that no wait outlasts it.
#[derive(Debug, Clone)]
pub(crate) struct Spinner {
    /// Set by the parent's watchdog when the worker has exited (`None` in the worker,
    /// which the kernel kills when the parent exits).
    pub(crate) exited: Option<Arc<AtomicBool>>,
    /// Yield instead of spinning: the two processes share one CPU.
    pub(crate) yields: bool,
}

impl Spinner {
    /// One poll of a busy wait. `spins` counts the polls of this wait.
    ///
    /// # Errors
    /// The worker has exited.
    #[inline]
    pub(crate) fn relax(&self, spins: &mut u32) -> Result<()> {
        *spins = spins.wrapping_add(1);
        if self.yields {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
        if *spins % 4096 == 0 {
            self.check()?;
        }
        Ok(())
    }

    /// Whether the worker is still there.
    ///
    /// # Errors
    /// The worker has exited.
    pub(crate) fn check(&self) -> Result<()> {
        match &self.exited {
            Some(flag) if flag.load(Ordering::Acquire) => Err(worker_gone()),
            _ => Ok(()),
        }
    }
}

/// The error of a wait on a worker that has exited.
pub(crate) fn worker_gone() -> Error {
    Error::Message(
        "bench: the worker process exited in the middle of a measurement (its messages, if any, are above)"
            .to_owned(),
    )
}

/// A command, as the worker read it (every field checked by the caller before use).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Command {
    pub(crate) seq: u32,
    pub(crate) op: u32,
    pub(crate) arg: u32,
    pub(crate) size: u64,
    pub(crate) count: u64,
}

/// One side's view of the command protocol.
#[derive(Debug)]
pub(crate) struct Control<'a> {
    region: &'a Region,
    /// The parent: the last sequence number posted. The worker: the last one seen.
    seq: u32,
}

impl<'a> Control<'a> {
    /// Parent: the protocol over `region`'s control page, for the whole run (the sequence
    /// numbers go on from one worker to the next).
    pub(crate) fn new(region: &'a Region) -> Control<'a> {
        Control { region, seq: 0 }
    }

    /// Worker: joins the protocol (the commands posted before it started are not its own),
    /// then says hello with its pid.
    ///
    /// # Errors
    /// The region's errors.
    pub(crate) fn join(region: &'a Region) -> Result<Control<'a>> {
        // Acquire: pairs with the parent's Release store in `post` (of an earlier worker's
        // command); the parent posts nothing new before our hello.
        let seq = word(region, CMD_SEQ)?.load(Ordering::Acquire);
        let hello = word(region, HELLO)?;
        // Release: the parent that sees our pid sees `seq` read first.
        hello.store(std::process::id(), Ordering::Release);
        os::futex_wake(hello, 1)?;
        Ok(Control { region, seq })
    }

    /// Parent: waits until worker `pid` has joined.
    ///
    /// # Errors
    /// The worker exited first.
    pub(crate) fn await_hello(&self, pid: u32, spinner: &Spinner) -> Result<()> {
        self.await_word(HELLO, pid, spinner)
    }

    /// Parent: posts a command and wakes the worker; returns its sequence number.
    ///
    /// # Errors
    /// The region's errors (none for a segment of [`segment_size`]).
    pub(crate) fn post(&mut self, op: u32, arg: u32, size: u64, count: u64) -> Result<u32> {
        let r = self.region;
        word(r, CMD_OP)?.store(op, Ordering::Relaxed);
        word(r, CMD_ARG)?.store(arg, Ordering::Relaxed);
        word64(r, CMD_SIZE)?.store(size, Ordering::Relaxed);
        word64(r, CMD_COUNT)?.store(count, Ordering::Relaxed);
        self.seq = self.seq.wrapping_add(1);
        // Release: pairs with the worker's Acquire load in `next`: it sees the fields.
        let seq_word = word(r, CMD_SEQ)?;
        seq_word.store(self.seq, Ordering::Release);
        os::futex_wake(seq_word, 1)?;
        Ok(self.seq)
    }

    /// Parent: waits until the worker acknowledged command `seq`; returns the two values
    /// it sent back. Spins a little, then sleeps on the futex, checking the worker.
    ///
    /// # Errors
    /// The worker exited first.
    pub(crate) fn await_ack(&self, seq: u32, spinner: &Spinner) -> Result<(u64, u64)> {
        self.await_word(ACK_SEQ, seq, spinner)?;
        Ok((
            word64(self.region, ACK_A)?.load(Ordering::Relaxed),
            word64(self.region, ACK_B)?.load(Ordering::Relaxed),
        ))
    }

    /// Parent: busy-waits until the worker marked command `seq` done (throughput).
    ///
    /// # Errors
    /// The worker exited first.
    pub(crate) fn await_done(&self, seq: u32, spinner: &Spinner) -> Result<()> {
        let done = word(self.region, DONE_SEQ)?;
        let mut spins = 0;
        // Acquire: pairs with the Release store in `done`.
        while done.load(Ordering::Acquire) != seq {
            spinner.relax(&mut spins)?;
        }
        Ok(())
    }

    fn await_word(&self, at: usize, seq: u32, spinner: &Spinner) -> Result<()> {
        let w = word(self.region, at)?;
        let mut spins = 0u32;
        loop {
            // Acquire: pairs with the worker's Release store in `ack` (or `join`).
            let now = w.load(Ordering::Acquire);
            if now == seq {
                return Ok(());
            }
            let alive = if spins < 1 << 12 {
                spinner.relax(&mut spins)
            } else {
                match os::futex_wait(w, now, Some(CHECK_PERIOD)) {
                    Err(e) if e.kind() != std::io::ErrorKind::TimedOut => return Err(e.into()),
                    _ => spinner.check(),
                }
            };
            if let Err(gone) = alive {
                // A worker acknowledges its last command (quit) and exits: the word it
                // stored before exiting is there now.
                return if w.load(Ordering::Acquire) == seq {
                    Ok(())
                } else {
                    Err(gone)
                };
            }
        }
    }

    /// Worker: sleeps until the next command and returns it.
    ///
    /// # Errors
    /// The region's and the futex's errors.
    pub(crate) fn next(&mut self) -> Result<Command> {
        let r = self.region;
        let seq_word = word(r, CMD_SEQ)?;
        loop {
            // Acquire: pairs with the Release store in `post`.
            let seq = seq_word.load(Ordering::Acquire);
            if seq != self.seq {
                self.seq = seq;
                return Ok(Command {
                    seq,
                    op: word(r, CMD_OP)?.load(Ordering::Relaxed),
                    arg: word(r, CMD_ARG)?.load(Ordering::Relaxed),
                    size: word64(r, CMD_SIZE)?.load(Ordering::Relaxed),
                    count: word64(r, CMD_COUNT)?.load(Ordering::Relaxed),
                });
            }
            // No timeout: the kernel kills the worker when the parent exits.
            os::futex_wait(seq_word, seq, None)?;
        }
    }

    /// Worker: acknowledges command `seq` with two values, and wakes the parent.
    ///
    /// # Errors
    /// The region's errors.
    pub(crate) fn ack(&self, seq: u32, a: u64, b: u64) -> Result<()> {
        let r = self.region;
        word64(r, ACK_A)?.store(a, Ordering::Relaxed);
        word64(r, ACK_B)?.store(b, Ordering::Relaxed);
        let w = word(r, ACK_SEQ)?;
        // Release: the parent's Acquire load in `await_ack` sees the values.
        w.store(seq, Ordering::Release);
        os::futex_wake(w, 1)?;
        Ok(())
    }

    /// Worker: marks command `seq` done (the parent busy-waits for it).
    ///
    /// # Errors
    /// The region's errors.
    pub(crate) fn done(&self, seq: u32) -> Result<()> {
        // Release: pairs with the Acquire load in `await_done`.
        word(self.region, DONE_SEQ)?.store(seq, Ordering::Release);
        Ok(())
    }
}
