//! A single-producer single-consumer channel of variable-length byte messages.
//!
//! The algorithm is a single-producer single-consumer ring over free-running byte counters
//! (Lamport, "Specifying Concurrent Program Modules", TOPLAS 1983) in which, as in
//! FastForward (Giacomoni et al., PPoPP 2008), the receiver learns that a record is ready
//! from the record itself rather than from the sender's index: each record header carries
//! a *stamp*, its stream position plus one, written last with Release. So a receive touches
//! only the record's own cache lines, and the sender reads the receiver's `head` only when
//! its cached copy says the ring is full. Messages are records in the ring; a record that
//! does not fit before the end of the ring is preceded by a padding record and starts again
//! at offset 0, so every message is one contiguous span that can be written and read in
//! place.
//!
//! Layout (offsets from the channel's start, which is 64-byte aligned):
//!
//! | offset | size | field                                                           |
//! |-------:|-----:|-----------------------------------------------------------------|
//! | 0      | 64   | header (magic `shmkSPSC`; its payload size is the capacity)     |
//! | 64     | 8    | `tail`: bytes committed by the sender (sender writes)           |
//! | 128    | 8    | `head`: bytes released by the receiver (receiver writes)        |
//! | 192    | 4    | sender's pid, 0 when no sender is attached                       |
//! | 196    | 4    | receiver's pid, 0 when no receiver is attached                   |
//! | 200    | 4    | `wake`: futex sequence word (sender bumps, receiver sleeps on)   |
//! | 204    | 4    | `parked`: 1 while the receiver sleeps or is about to             |
//! | 256    | cap  | the ring: records of a 16-byte header + message, 16-aligned      |
//!
//! A record header is two u64 words: the stamp (the record's stream position + 1), then the
//! message length (low half) and a tag (high half: `0x4d53_4721` a message, `0x5041_4421`
//! padding). A message record takes `16 + round_up(len, 16)` bytes and never crosses the
//! end of the ring; a padding record fills the ring to its end.
//!
//! Invariants, as a correct peer keeps them:
//! - `head <= tail <= head + cap`; both only grow (u64: they never wrap in practice).
//! - Bytes `[head, tail)` (modulo `cap`) hold committed records the receiver has not
//!   released; only the receiver reads them. Bytes `[tail, head + cap)` are free; only the
//!   sender writes them.
//! - The stamp word at stream position `tail` is never `tail + 1` until the record there is
//!   committed: before publishing a record, the sender zeroes the stamp word right after it
//!   ("clear ahead"; it keeps 16 bytes free for that). So stale bytes from earlier laps,
//!   or message bytes that look like a header, are never taken for a record.
//! - `tail` in the segment trails the stamps by at most the record being committed; a new
//!   sender replaying a dead one's commits follows the stamps from `tail` forward.
//!
//! The receiver loads a stamp once and compares it with `head + 1` (a number, never an
//! index), then loads the length-and-tag word once and checks the tag and that the record
//! ends inside the ring; anything else is [`ErrorKind::Corrupt`]. The sender checks `head`
//! against its own `tail` (`head <= tail <= head + cap`, and `head` never goes back) when
//! its cached copy says the ring is full, and at open. The receiver checks, at open and
//! whenever a wait checks, that the `head` word holds its own copy and that `tail` is
//! within a ring of it either way (`tail` may trail the stamps by the commit in flight).
//! So nothing a peer writes can make either side access memory outside the ring, and
//! indices further apart than the ring are errors, not waits for records that cannot come.

use super::endpoint::{self, context, corrupt};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::header::{self, Layout};
use crate::region::{ReadWrite, Region};
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

mod receiver;
mod sender;
pub(crate) mod steps;

pub use steps::max_message;
pub(crate) use steps::Ring;
use steps::{HEAD, RECORD, RING, TAIL};

pub use super::error::TrySendError;
pub use receiver::{Received, Receiver};
pub use sender::{Loan, Sender, SEND_BACKOFF_MAX};

const MAGIC: [u8; 8] = *b"shmkSPSC";
const SENDER_PID: usize = 192;
const RECEIVER_PID: usize = 196;
const WAKE: usize = 200;
const PARKED: usize = 204;
/// The largest index a correct channel reaches in practice (2^62 bytes, centuries of
/// traffic); larger ones found at open are corruption, and keep the index arithmetic far
/// from overflowing.
const MAX_INDEX: u64 = 1 << 62;
/// The smallest capacity.
pub const MIN_CAPACITY: usize = 128;
/// The largest capacity (the header stores sizes as 32-bit numbers).
pub const MAX_CAPACITY: usize = 1 << 30;

/// Bytes a channel of `capacity` bytes of ring takes in a region.
pub const fn size_for(capacity: usize) -> usize {
    RING + capacity
}

/// The largest valid capacity (a power of two) of a channel that fills `len` bytes, or
/// `None` if `len` is too small.
pub fn capacity_for(len: usize) -> Option<usize> {
    let room = len.checked_sub(RING)?.min(MAX_CAPACITY);
    if room < MIN_CAPACITY {
        return None;
    }
    Some(1usize << (usize::BITS - 1 - room.leading_zeros()))
}

fn layout(capacity: usize) -> Layout {
    Layout {
        what: "SPSC channel",
        magic: MAGIC,
        size: size_for(capacity),
        payload_size: capacity,
        payload_align: 8,
        lock_size: 0,
    }
}

/// Lays out a new, empty channel with a ring of `capacity` bytes (a power of two from
/// [`MIN_CAPACITY`] to [`MAX_CAPACITY`]) at `offset` of `region` (64-byte aligned, with
/// [`size_for`]`(capacity)` bytes free and zeroed). No endpoint is attached: open them with
/// [`Sender::open_in`] and [`Receiver::open_in`].
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for a bad capacity; [`ErrorKind::OutOfBounds`],
/// [`ErrorKind::Misaligned`], or [`ErrorKind::AlreadyExists`] when the memory is not free
/// (its init state word is not zero).
pub fn create_in(region: &Region<ReadWrite>, offset: usize, capacity: usize) -> Result<()> {
    if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "spsc::create_in",
            context(offset),
            format!(
                "capacity {capacity} is not a power of two from {MIN_CAPACITY} to {MAX_CAPACITY}"
            ),
        ));
    }
    let l = layout(capacity);
    header::begin_create(region, offset, &l, "spsc::create_in")?;
    let body = (|| {
        region
            .atomic_u64(offset + TAIL)?
            .store(0, Ordering::Relaxed);
        region
            .atomic_u64(offset + HEAD)?
            .store(0, Ordering::Relaxed);
        region.fill(offset + SENDER_PID, RING - SENDER_PID, 0)
    })();
    if let Err(e) = body {
        header::abandon_create(region, offset);
        return Err(e);
    }
    // Release (inside): a process that opens the channel sees the zeroed indices.
    header::finish_create(region, offset)
}

/// Creates a channel over all of `region` (offset 0, the largest capacity that fits) and
/// returns its capacity.
///
/// # Errors
/// As [`create_in`]; [`ErrorKind::InvalidArgument`] when the region is too small.
pub fn create_over(region: &Region<ReadWrite>) -> Result<usize> {
    let capacity = capacity_for(region.len()).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidArgument,
            "spsc::create_over",
            context(0),
            format!(
                "a region of {} bytes is too small for a channel",
                region.len()
            ),
        )
    })?;
    create_in(region, 0, capacity)?;
    Ok(capacity)
}

/// Validates the channel at `offset` and returns its capacity (read once, checked, and
/// compared with the header's other fields by `header::open`).
fn open(region: &Region<ReadWrite>, offset: usize, call: &'static str) -> Result<usize> {
    // The capacity is the header's payload size (offset 24); read it once, check it, then
    // let header::open compare the whole header against the layout it implies.
    let capacity = match offset.checked_add(24) {
        Some(at) => region.load_u32(at, Ordering::Acquire)? as usize,
        None => {
            return Err(Error::new(
                ErrorKind::OutOfBounds,
                call,
                context(offset),
                "offset overflows",
            ))
        }
    };
    if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        // An uninitialised channel has capacity 0; let the header say which it is.
        header::open(region, offset, &layout(MIN_CAPACITY), call)?;
        return Err(Error::new(
            ErrorKind::LayoutMismatch,
            call,
            context(offset),
            format!("invalid channel capacity {capacity}"),
        ));
    }
    header::open(region, offset, &layout(capacity), call)?;
    Ok(capacity)
}

/// The words of a channel, validated at open: in bounds and aligned.
struct Words<R> {
    region: R,
    offset: usize,
    capacity: usize,
}

impl<R: Deref<Target = Region<ReadWrite>>> Words<R> {
    fn u64(&self, at: usize) -> &AtomicU64 {
        // SAFETY: `at` is TAIL, HEAD, or RING plus a ring position masked below `capacity`
        // to a multiple of 16, plus 0 or 8; open checked that the channel lies inside the region at a 64-byte
        // aligned address, so the word is in bounds and 8-aligned. It is only accessed
        // atomically.
        unsafe { self.region.atomic_u64_unchecked(self.offset + at) }
    }
    fn u32(&self, at: usize) -> &AtomicU32 {
        // SAFETY: `at` is one of the 4-aligned control words below RING, inside the
        // channel (checked at open). It is only accessed atomically.
        unsafe { self.region.atomic_u32_unchecked(self.offset + at) }
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Ring for Words<R> {
    type Word = AtomicU64;
    #[inline]
    fn capacity(&self) -> usize {
        self.capacity
    }
    #[inline]
    fn word(&self, at: usize) -> &AtomicU64 {
        self.u64(at)
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Words<R> {
    fn release(&self, slot: usize, pid: u32) {
        endpoint::release(self.u32(slot), pid);
    }
}
