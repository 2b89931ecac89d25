//! A bounded multi-producer multi-consumer queue of fixed-size messages.
//!
//! The algorithm is D. Vyukov's bounded MPMC queue ("Bounded MPMC queue", 1024cores.net):
//! an array of `capacity` slots (a power of two), each with a sequence number, and two
//! free-running positions, `enqueue` and `dequeue`, that producers and consumers advance
//! with a compare-and-swap. Slot `pos & (capacity - 1)` carries the message at position
//! `pos`. Its sequence number says whose turn it is:
//!
//! - `pos`: free for the producer of position `pos`;
//! - `pos + 1`: the message at `pos` is published, for the consumer of position `pos`;
//! - `pos + capacity`: released by that consumer, free for position `pos + capacity`.
//!
//! A producer loads `enqueue` (`q`), then the slot's sequence number; if it is `q`, it
//! claims position `q` by moving `enqueue` from `q` to `q + 1` (CAS), writes the message
//! and publishes it by moving the sequence number to `q + 1`. A smaller sequence number
//! means the previous lap's message is still in the slot: the queue is full. A consumer
//! does the same with `dequeue` and sequence `p + 1`, reads the message and releases the
//! slot with `p + capacity`. A claim orders nothing by itself; the sequence number does:
//! publishing is a Release that the consumer's Acquire load pairs with, and so is the
//! release of a slot to the next lap's producer.
//!
//! In the segment the sequence word holds `2 * seq + skip`: the low bit marks a published
//! slot that carries no message (a *skip*, see below), which the consumer of the position
//! releases without returning it.
//!
//! [`TypedProducer`] and [`TypedConsumer`] carry values of a
//! [`ShmSafe`](crate::sync::ShmSafe) type instead of bytes.
//!
//! ## Process death
//! In the plain algorithm a process killed between its claim and its publish (or release)
//! blocks the queue at that slot forever. Here every handle registers in a table of
//! [`MAX_HANDLES`] entries (its role and pid), and before each claim it writes the
//! position it is about to claim into its entry (its *intent*); the claim's CAS is a
//! Release, so whoever sees the position moved past `pos` also sees the intent. A waiter
//! stuck on a slot for a while (after a spin budget, or each time it wakes from a sleep)
//! checks the slot:
//!
//! - sequence `pos` and `enqueue > pos`: a producer claimed `pos` and has not published.
//!   If no entry of a live producer ([`kill(2)`], signal 0) has the intent `pos`, the
//!   claimant is dead: the waiter publishes a skip in its place (CAS `pos` → `pos + 1`,
//!   skip bit set). The next consumer of `pos` releases the slot and moves on.
//! - sequence `pos + 1` and `dequeue > pos`: a consumer claimed the message and has not
//!   released the slot. If no live consumer has the intent `pos`, the waiter releases the
//!   slot (CAS `pos + 1` → `pos + capacity`). The message is lost: its consumer may or may
//!   not have acted on it before it died.
//!
//! Each repair is one CAS from the exact word the dead peer left, so a repair that races
//! with another repair, or with a peer that was not dead after all, happens once or not
//! at all. A producer publishes and a consumer releases with a CAS too: if a repair took
//! its slot (which needs a scribbled table, since a process `kill` reports as gone does not
//! come back), its publish or release fails with [`ErrorKind::Corrupt`] and its message is
//! not delivered, or a received copy is not returned, rather than torn.
//!
//! What is guaranteed, with live peers and with peers killed at any instruction:
//! no message is delivered twice or torn; messages a producer published are received in
//! the order it published them (by any one consumer); the only messages lost are those
//! whose consumer died while holding them, and the one a producer was writing when it died
//! (its send never returned). No wait lasts forever on a dead peer: an empty queue whose
//! registered producers are all dead gives [`ErrorKind::PeerDied`] to consumers, a full
//! queue whose registered consumers are all dead gives it to producers. `kill(pid, 0)`
//! has its limits (see [`channel`](crate::channel)): a dead process not yet reaped, or a
//! pid reused by another process, looks alive, and a waiter then waits until its timeout.
//! A handle forgotten with [`std::mem::forget`] while it holds a [`Loan`] or a [`Received`]
//! is treated as dead once its entry is freed, and holds its slot until then.
//!
//! ## Layout
//! Offsets from the queue's start, which is 64-byte aligned:
//!
//! | offset | size        | field                                                        |
//! |-------:|------------:|--------------------------------------------------------------|
//! | 0      | 64          | header (magic `shmkMPMC`; payload size = message size)        |
//! | 64     | 8           | `enqueue`: next position to claim for a producer              |
//! | 128    | 8           | `dequeue`: next position to claim for a consumer              |
//! | 192    | 4           | `wake`: futex sequence word (producers bump, consumers sleep)  |
//! | 196    | 4           | `parked`: how many consumers sleep or are about to            |
//! | 256    | 64 × 64     | handle table, one 64-byte line per entry (below)               |
//! | 4352   | cap × slot  | slots, each `round_up(16 + message size, 64)` bytes            |
//!
//! A handle entry: a u64 `who` (pid in the low half, role in the high half: 1 producer,
//! 2 consumer; 0 for a free entry), then a u64 intent (position + 1, 0 for none). A slot:
//! the u64 sequence word, the u32 message length, 4 bytes of padding, then the message.
//! The capacity is not stored: it follows from the header's total size and message size.
//!
//! ## Hostile peers
//! Positions and sequence words are loaded once into locals and compared as numbers; a
//! slot index is always `position & (capacity - 1)`. A sequence word that names neither
//! the slot's position nor the one before it, a skip bit on a free slot, a position past
//! 2^60, or a length past the message size is [`ErrorKind::Corrupt`]; so is a position
//! that a sequence word shows to be stale but does not move. A waiter that checks the
//! queue (before each repair) reads `enqueue`, `dequeue`, then `enqueue` again, and
//! requires `dequeue <= enqueue <= dequeue + capacity` between them, which a correct queue
//! keeps at every instant: otherwise every free slot could look like a dead producer's
//! claim (or every message like a dead consumer's), and it is [`ErrorKind::Corrupt`]
//! instead of a repair. One look at the queue takes a bounded number of steps; a check
//! repairs at most one slot; and a wait looks at its deadline after every check, whatever
//! the check found, and parks (or spins) after at most 64 repairs in a row. So a scribbled
//! queue gives errors, never an access outside it, a panic, or a wait past its deadline.
//!
//! ```
//! use shmkit::channel::mpmc::{self, Consumer, Producer};
//! use shmkit::Segment;
//!
//! let segment = Segment::create(shmkit::Key::PRIVATE, mpmc::size_for(8, 64))?.remove_on_drop();
//! let map = segment.attach()?;
//! mpmc::create_in(map.region(), 0, 8, 64)?;
//! let mut tx = Producer::open_in(map.region(), 0)?;   // any number, in any processes
//! let mut rx = Consumer::open_in(map.region(), 0)?;
//! tx.try_send(b"hello").map_err(|e| e.into_error())?;
//! let mut buf = [0u8; 64];
//! let n = rx.recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"hello");
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! [`kill(2)`]: https://man7.org/linux/man-pages/man2/kill.2.html

mod consumer;
mod producer;
pub(crate) mod steps;
mod typed;

pub use steps::MAX_HANDLES;
use steps::{Bad, Cells, Role};
use steps::{ENQUEUE, PARKED, SLOTS, WAKE};

pub use super::error::TrySendError;
pub use consumer::{Consumer, Received};
pub use producer::{Loan, Producer};
pub use typed::{TypedConsumer, TypedProducer};

use crate::error::{Error, ErrorKind, Result};
use crate::layout::header::{self, round_up, Layout};
use crate::region::{ReadWrite, Region};
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const MAGIC: [u8; 8] = *b"shmkMPMC";
/// Bytes before a slot's message: the sequence word, the length, padding.
const SLOT_HEADER: usize = 16;
/// The largest capacity.
pub const MAX_CAPACITY: usize = 1 << 20;
/// The largest message size.
pub const MAX_MESSAGE: usize = 1 << 16;

/// The roles in the handle table.
const PRODUCER: u32 = 1;
const CONSUMER: u32 = 2;

/// Bytes one slot takes.
const fn stride(message_size: usize) -> usize {
    round_up(SLOT_HEADER + message_size, 64)
}

/// Bytes a queue of `capacity` messages of up to `message_size` bytes takes in a region.
pub const fn size_for(capacity: usize, message_size: usize) -> usize {
    SLOTS + capacity * stride(message_size)
}

fn layout(capacity: usize, message_size: usize) -> Layout {
    Layout {
        what: "MPMC queue",
        magic: MAGIC,
        size: size_for(capacity, message_size),
        payload_size: message_size,
        payload_align: 8,
        lock_size: 0,
    }
}

use super::endpoint::{context, corrupt};

/// Whether a queue of these sizes can be laid out: the header records its total size as a
/// 32-bit number, so that must fit too.
pub(crate) fn valid(capacity: usize, message_size: usize) -> bool {
    capacity.is_power_of_two()
        && (2..=MAX_CAPACITY).contains(&capacity)
        && (1..=MAX_MESSAGE).contains(&message_size)
        && size_for(capacity, message_size) <= u32::MAX as usize
}

/// Lays out a new, empty queue of `capacity` slots (a power of two from 2 to
/// [`MAX_CAPACITY`]) for messages of up to `message_size` bytes (1 to [`MAX_MESSAGE`]),
/// [`size_for`] bytes in all (below 4 GiB), at `offset` of `region` (64-byte aligned, with
/// those bytes free and zeroed).
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for a bad capacity or message size;
/// [`ErrorKind::OutOfBounds`], [`ErrorKind::Misaligned`], or [`ErrorKind::AlreadyExists`]
/// when the memory is not free (its init state word is not zero).
pub fn create_in(
    region: &Region<ReadWrite>,
    offset: usize,
    capacity: usize,
    message_size: usize,
) -> Result<()> {
    const CALL: &str = "mpmc::create_in";
    if !valid(capacity, message_size) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            CALL,
            context(offset),
            format!(
                "capacity {capacity} (a power of two from 2 to {MAX_CAPACITY}) or message size {message_size} (1 to {MAX_MESSAGE}) out of range, or a total size past 4 GiB"
            ),
        ));
    }
    let l = layout(capacity, message_size);
    header::begin_create(region, offset, &l, CALL)?;
    let body = (|| {
        region.fill(offset + ENQUEUE, SLOTS - ENQUEUE, 0)?;
        for i in 0..capacity {
            // Slot i is free for position i: sequence i, skip bit clear.
            region
                .atomic_u64(offset + SLOTS + i * stride(message_size))?
                .store(2 * i as u64, Ordering::Relaxed);
        }
        Ok(())
    })();
    if let Err(e) = body {
        header::abandon_create(region, offset);
        return Err(e);
    }
    // Release (inside): an opener sees the zeroed positions and the initial sequences.
    header::finish_create(region, offset)
}

/// Creates a queue over all of `region` (offset 0) for messages of `message_size` bytes,
/// with the largest capacity that fits, and returns that capacity.
///
/// # Errors
/// As [`create_in`]; [`ErrorKind::InvalidArgument`] when not even two slots fit.
pub fn create_over(region: &Region<ReadWrite>, message_size: usize) -> Result<usize> {
    let room = region.len().saturating_sub(SLOTS) / stride(message_size.min(MAX_MESSAGE));
    let room = room.min(MAX_CAPACITY);
    if room < 2 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "mpmc::create_over",
            context(0),
            format!(
                "a region of {} bytes is too small for a queue of {message_size}-byte messages",
                region.len()
            ),
        ));
    }
    let capacity = 1usize << (usize::BITS - 1 - room.leading_zeros());
    create_in(region, 0, capacity, message_size)?;
    Ok(capacity)
}

/// Validates the queue at `offset`: returns its capacity and message size (read once from
/// the header, checked, then compared with the whole header by `header::open`).
fn open(region: &Region<ReadWrite>, offset: usize, call: &'static str) -> Result<(usize, usize)> {
    let (total, message_size) = match offset.checked_add(24) {
        Some(at) => (
            region.load_u32(at - 4, Ordering::Acquire)? as usize,
            region.load_u32(at, Ordering::Acquire)? as usize,
        ),
        None => {
            return Err(Error::new(
                ErrorKind::OutOfBounds,
                call,
                context(offset),
                "offset overflows",
            ))
        }
    };
    let capacity = if (1..=MAX_MESSAGE).contains(&message_size) {
        total.saturating_sub(SLOTS) / stride(message_size)
    } else {
        0
    };
    if !valid(capacity, message_size) || size_for(capacity, message_size) != total {
        // An uninitialised queue has sizes 0; let the header say which it is.
        header::open(region, offset, &layout(2, 1), call)?;
        return Err(Error::new(
            ErrorKind::LayoutMismatch,
            call,
            context(offset),
            format!("invalid queue sizes: total {total}, message size {message_size}"),
        ));
    }
    header::open(region, offset, &layout(capacity, message_size), call)?;
    Ok((capacity, message_size))
}

/// The words of a queue, validated at open: in bounds and aligned.
struct Queue<R> {
    region: R,
    offset: usize,
    capacity: usize,
    message_size: usize,
}

impl<R: Deref<Target = Region<ReadWrite>>> Queue<R> {
    fn open(region: R, offset: usize, call: &'static str) -> Result<Queue<R>> {
        let (capacity, message_size) = open(&region, offset, call)?;
        Ok(Queue {
            region,
            offset,
            capacity,
            message_size,
        })
    }

    fn u64(&self, at: usize) -> &AtomicU64 {
        // SAFETY: `at` is ENQUEUE, DEQUEUE, a table word (TABLE + i * ENTRY + 0 or 8 with
        // i < MAX_HANDLES), or a slot's sequence word (SLOTS + index * stride with index
        // masked below capacity); open checked that the queue lies inside the region at a
        // 64-byte aligned address, and all these are multiples of 8. Only accessed
        // atomically.
        unsafe { self.region.atomic_u64_unchecked(self.offset + at) }
    }

    fn u32(&self, at: usize) -> &AtomicU32 {
        // SAFETY: `at` is WAKE, PARKED, or a slot's length word (SLOTS + index * stride + 8,
        // index masked below capacity): 4-aligned and inside the queue (checked at open).
        // Only accessed atomically.
        unsafe { self.region.atomic_u32_unchecked(self.offset + at) }
    }

    fn wake(&self) -> &AtomicU32 {
        self.u32(WAKE)
    }

    fn parked(&self) -> &AtomicU32 {
        self.u32(PARKED)
    }

    /// Offset in the region of the message bytes of `pos`'s slot.
    fn data(&self, pos: u64) -> usize {
        self.offset + self.slot(pos) + SLOT_HEADER
    }

    /// Reads both positions and checks them against each other ([`steps::positions`]);
    /// returns `(dequeue, enqueue)` with `dequeue <= enqueue <= dequeue + capacity`.
    ///
    /// A correct queue keeps that invariant at every instant, but a reader sees the two
    /// words at different instants, so the order of the loads matters:
    /// - `enqueue` first (Acquire), then `dequeue`: the claim of position `e - 1` that
    ///   wrote `e` came after its producer saw the slot freed for that lap (Acquire), and
    ///   the release (or the repair) that freed it after `dequeue` passed `e - 1 - capacity`
    ///   (Release all along). So `dequeue` passed `e - capacity` before we read it, and it
    ///   only grows: `e - capacity <= dequeue`.
    /// - `dequeue` (Acquire), then `enqueue` again: the claim of `d - 1` that wrote `d` came
    ///   after its consumer saw the message published (Acquire), which came after its
    ///   producer claimed it (or a repairer saw it claimed). So `d <= enqueue`.
    ///
    /// Anything else is [`ErrorKind::Corrupt`]: a peer wrote a position that no sequence of
    /// claims can reach. (Reading `dequeue` first and `enqueue` after would see legitimate
    /// distances past the capacity: the producers may go round the ring between the loads.)
    fn positions(&self, call: &'static str) -> Result<(u64, u64)> {
        steps::positions(self).map_err(|bad| self.bad(call, bad))
    }

    /// The [`ErrorKind::Corrupt`] error of what a step found impossible.
    #[cold]
    fn bad(&self, call: &'static str, bad: Bad) -> Error {
        let message = match bad {
            Bad::Position(pos) => format!("a queue position {pos} past 2^60"),
            Bad::Stepped(pos) => format!("position {pos} past 2^60"),
            Bad::Positions {
                early,
                enqueue,
                dequeue,
            } => format!(
                "positions out of range: enqueue {early} then {enqueue}, dequeue {dequeue}, capacity {} (a correct queue keeps dequeue <= enqueue <= dequeue + capacity)",
                self.capacity
            ),
            Bad::Seq { pos, word } => return self.bad_seq(call, pos, word),
            Bad::Length { pos, len } => format!(
                "a message of {len} bytes at position {pos}, in slots of {}",
                self.message_size
            ),
            Bad::Taken { pos, found } => format!(
                "the slot of position {pos} was taken while it was being read (sequence word {found:#x}); the message is discarded"
            ),
        };
        corrupt(call, self.offset, message)
    }

    fn bad_seq(&self, call: &'static str, pos: u64, word: u64) -> Error {
        corrupt(
            call,
            self.offset,
            format!(
                "slot {} holds sequence word {word:#x}, which no peer at position {pos} can write (capacity {})",
                self.index(pos),
                self.capacity
            ),
        )
    }

    /// Takes a free handle entry (or one whose process is gone) for `role`.
    fn register(&self, role: u32, call: &'static str) -> Result<usize> {
        let me = std::process::id();
        let mine = (u64::from(role) << 32) | u64::from(me);
        for i in 0..MAX_HANDLES {
            let (who, intent) = self.entry(i);
            // Relaxed: the entry carries no data for its next holder.
            let cur = who.load(Ordering::Relaxed);
            let pid = cur as u32;
            let free = cur == 0
                || (pid != me && crate::sys::process::process_exists(pid as i32) != Some(true));
            if free
                && who
                    .compare_exchange(cur, mine, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                intent.store(0, Ordering::Relaxed);
                return Ok(i);
            }
        }
        Err(Error::new(
            ErrorKind::LimitExceeded,
            call,
            context(self.offset),
            format!("all {MAX_HANDLES} handle entries of the queue are taken by live processes"),
        ))
    }

    /// Frees our handle entry.
    fn unregister(&self, i: usize, role: u32) {
        let (who, intent) = self.entry(i);
        intent.store(0, Ordering::Relaxed);
        let mine = (u64::from(role) << 32) | u64::from(std::process::id());
        let _ = who.compare_exchange(mine, 0, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether a live handle of `role` has the intent `pos`. The caller loaded the claimed
    /// position past `pos` with Acquire, so it sees the claimant's intent.
    fn claimant_alive(&self, role: u32, pos: u64) -> bool {
        (0..MAX_HANDLES).any(|i| {
            let (who, intent) = self.entry(i);
            let w = who.load(Ordering::Relaxed);
            (w >> 32) as u32 == role
                && intent.load(Ordering::Relaxed) == pos + 1
                && crate::sys::process::process_exists(w as u32 as i32) != Some(false)
        })
    }

    /// Whether handles of `role` are registered and every one of them is dead: `Some(pid)`
    /// of one of them then.
    fn all_dead(&self, role: u32) -> Option<u32> {
        let mut dead = None;
        for i in 0..MAX_HANDLES {
            let w = self.entry(i).0.load(Ordering::Relaxed);
            if (w >> 32) as u32 != role {
                continue;
            }
            match crate::sys::process::process_exists(w as u32 as i32) {
                Some(false) => dead = Some(w as u32),
                _ => return None,
            }
        }
        dead
    }

    /// Repairs the slot in front of a stuck waiter (a consumer's at `dequeue`, a producer's
    /// at `enqueue`) if a dead peer left it claimed ([`steps::repair`], with `kill(pid, 0)`
    /// for the claimants' liveness), and wakes a parked consumer after a repair. At most
    /// one repair (one compare-and-swap) per call; returns whether it changed the slot.
    fn recover(&self, consumer: bool, call: &'static str) -> Result<bool> {
        let alive = |role: Role, pos: u64| {
            let role = match role {
                Role::Producer => PRODUCER,
                Role::Consumer => CONSUMER,
            };
            self.claimant_alive(role, pos)
        };
        let done = steps::repair(self, consumer, alive).map_err(|bad| self.bad(call, bad))?;
        if done {
            super::wait::notify(self.parked(), self.wake());
        }
        Ok(done)
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Cells for Queue<R> {
    type W64 = AtomicU64;
    type W32 = AtomicU32;
    #[inline]
    fn capacity(&self) -> usize {
        self.capacity
    }
    #[inline]
    fn stride(&self) -> usize {
        stride(self.message_size)
    }
    #[inline]
    fn word64(&self, at: usize) -> &AtomicU64 {
        self.u64(at)
    }
    #[inline]
    fn word32(&self, at: usize) -> &AtomicU32 {
        self.u32(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(stride(1), 64);
        assert_eq!(stride(48), 64);
        assert_eq!(stride(49), 128);
        assert_eq!(size_for(4, 64), SLOTS + 4 * 128);
        assert_eq!(SLOTS % 64, 0);
    }
}
