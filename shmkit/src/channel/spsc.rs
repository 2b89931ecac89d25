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
//! against its own `tail`. So nothing a peer writes can make either side access memory
//! outside the ring.

use super::wait::{self, Wait, LIVENESS_PERIOD, SPINS_PER_CHECK};
use crate::error::{Error, ErrorKind, Result};
use crate::region::{ReadWrite, Region};
use crate::sync::header::{self, round_up, Layout};
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const MAGIC: [u8; 8] = *b"shmkSPSC";
const TAIL: usize = 64;
const HEAD: usize = 128;
const SENDER_PID: usize = 192;
const RECEIVER_PID: usize = 196;
const WAKE: usize = 200;
const PARKED: usize = 204;
const RING: usize = 256;
/// Size of a record header (stamp word, length-and-tag word); records are multiples of it.
const RECORD: usize = 16;
/// Room the sender keeps free after the last record, for clearing the next stamp word.
const CLEAR: u64 = 16;
/// Tag of a record that holds a message.
const TAG_MSG: u64 = 0x4d53_4721;
/// Tag of a record that fills the ring to its end.
const TAG_PAD: u64 = 0x5041_4421;
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

/// The largest message a channel of `capacity` bytes accepts: half the ring minus a record
/// header and the clear-ahead space, so that a message always fits in an empty ring,
/// wherever the indices are.
pub const fn max_message(capacity: usize) -> usize {
    capacity / 2 - RECORD - CLEAR as usize
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

pub(super) fn context(offset: usize) -> String {
    format!("offset={offset}")
}

pub(super) fn corrupt(call: &'static str, offset: usize, message: String) -> Error {
    Error::new(ErrorKind::Corrupt, call, context(offset), message)
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

/// Takes an endpoint's pid slot: free (0) or held by a process that no longer exists.
pub(super) fn claim(
    slot: &AtomicU32,
    what: &str,
    call: &'static str,
    offset: usize,
) -> Result<u32> {
    let me = std::process::id();
    for _ in 0..64 {
        // Acquire: pairs with the previous holder's Release when it let go, so we see its
        // last index store.
        let cur = slot.load(Ordering::Acquire);
        let free = cur == 0 || (cur != me && crate::os::process_exists(cur as i32) == Some(false));
        if !free {
            return Err(Error::new(
                ErrorKind::Busy,
                call,
                context(offset),
                format!("the channel's {what} is pid {cur}, which is alive"),
            ));
        }
        // AcqRel: exactly one claimer wins the slot; see above for Acquire.
        if slot
            .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(me);
        }
    }
    Err(Error::new(
        ErrorKind::Busy,
        call,
        context(offset),
        format!("the channel's {what} slot keeps changing"),
    ))
}

/// Whether the endpoint in `slot` is alive: `None` when none is attached (pid 0), else
/// whether its process exists.
pub(super) fn peer_alive(slot: &AtomicU32) -> Option<bool> {
    match slot.load(Ordering::Relaxed) {
        0 => None,
        pid => crate::os::process_exists(pid as i32),
    }
}

/// Whether the endpoint in `slot` is dead: `Some(pid)` when a pid is recorded and
/// `kill(pid, 0)` says it does not exist.
pub(super) fn dead_peer(slot: &AtomicU32) -> Option<u32> {
    let pid = slot.load(Ordering::Relaxed);
    if pid != 0 && crate::os::process_exists(pid as i32) == Some(false) {
        Some(pid)
    } else {
        None
    }
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
        unsafe {
            &*self
                .region
                .as_mut_ptr()
                .add(self.offset + at)
                .cast::<AtomicU64>()
        }
    }
    fn u32(&self, at: usize) -> &AtomicU32 {
        // SAFETY: `at` is one of the 4-aligned control words below RING, inside the
        // channel (checked at open). It is only accessed atomically.
        unsafe { header::word(&self.region, self.offset + at) }
    }
    fn tail(&self) -> &AtomicU64 {
        self.u64(TAIL)
    }
    fn head(&self) -> &AtomicU64 {
        self.u64(HEAD)
    }
    /// The stamp word of the record at stream position `at` (masked into the ring).
    fn stamp(&self, at: u64) -> &AtomicU64 {
        self.u64(RING + (at as usize & (self.capacity - 1) & !(RECORD - 1)))
    }
    /// The length-and-tag word of the record at stream position `at`.
    fn kind(&self, at: u64) -> &AtomicU64 {
        self.u64(RING + (at as usize & (self.capacity - 1) & !(RECORD - 1)) + 8)
    }
    /// Parses a length-and-tag word: the record's size and whether it is a message; `None`
    /// for a bad tag, a too-long message, a record past the end of the ring, or padding at
    /// offset 0 (which a correct sender never writes).
    fn parse(&self, at: u64, word: u64) -> Option<(u64, Option<usize>)> {
        let cap = self.capacity;
        let pos = at as usize & (cap - 1);
        let (tag, len) = (word >> 32, (word & 0xffff_ffff) as usize);
        match tag {
            TAG_PAD if pos != 0 => Some(((cap - pos) as u64, None)),
            TAG_MSG if len <= max_message(cap) => {
                let need = RECORD + round_up(len, RECORD);
                (pos + need <= cap).then_some((need as u64, Some(len)))
            }
            _ => None,
        }
    }
}

/// The sending end of an SPSC channel. One process at a time holds it: its pid is recorded
/// in the channel, and another opener gets [`ErrorKind::Busy`] while that process lives.
pub struct Sender<R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    w: Words<R>,
    pid: u32,
    /// Our copy of `tail`: the only writer is us.
    tail: u64,
    /// The last `head` we read: the receiver has released at least this much.
    head_cache: u64,
}

/// The receiving end of an SPSC channel. One process at a time holds it.
pub struct Receiver<R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    w: Words<R>,
    pid: u32,
    /// Our copy of `head`: the only writer is us.
    head: u64,
    wait: Wait,
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Sender<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("offset", &self.w.offset)
            .field("capacity", &self.w.capacity)
            .field("tail", &self.tail)
            .finish()
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Receiver<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("offset", &self.w.offset)
            .field("capacity", &self.w.capacity)
            .field("head", &self.head)
            .field("wait", &self.wait)
            .finish()
    }
}

/// A send that did not happen; the message is handed back.
#[derive(Debug)]
pub enum TrySendError<'a> {
    /// The ring has no room for the message now.
    Full(&'a [u8]),
    /// The send failed for another reason: too big, a dead receiver, a corrupt channel.
    Failed(&'a [u8], Error),
}

impl<'a> TrySendError<'a> {
    /// The message that was not sent.
    pub fn into_message(self) -> &'a [u8] {
        match self {
            TrySendError::Full(m) | TrySendError::Failed(m, _) => m,
        }
    }
    /// The error ([`ErrorKind::WouldBlock`] for a full ring).
    pub fn into_error(self) -> Error {
        match self {
            TrySendError::Full(_) => Error::new(
                ErrorKind::WouldBlock,
                "Sender::try_send",
                String::new(),
                "the channel is full",
            ),
            TrySendError::Failed(_, e) => e,
        }
    }
}

impl fmt::Display for TrySendError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(m) => write!(f, "the channel is full ({} bytes not sent)", m.len()),
            TrySendError::Failed(m, e) => write!(f, "{e} ({} bytes not sent)", m.len()),
        }
    }
}

impl std::error::Error for TrySendError<'_> {}

impl<R: Deref<Target = Region<ReadWrite>>> Sender<R> {
    /// Opens the channel at `offset` of `region` and becomes its sender. A sender whose
    /// process died is replaced; its uncommitted loan is discarded (it was never visible).
    ///
    /// # Errors
    /// The header's errors ([`ErrorKind::NotInitialised`], [`ErrorKind::LayoutMismatch`],
    /// [`ErrorKind::ForeignNamespace`], ...); [`ErrorKind::Busy`] while another live process
    /// is the sender; [`ErrorKind::Corrupt`] when the indices are inconsistent.
    pub fn open_in(region: R, offset: usize) -> Result<Sender<R>> {
        const CALL: &str = "Sender::open_in";
        let capacity = open(&region, offset, CALL)?;
        let w = Words {
            region,
            offset,
            capacity,
        };
        let pid = claim(w.u32(SENDER_PID), "sender", CALL, offset)?;
        let mut s = Sender {
            w,
            pid,
            tail: 0,
            head_cache: 0,
        };
        // Acquire: pairs with the previous sender's Release stores of tail (its commits).
        let mut tail = s.w.tail().load(Ordering::Acquire);
        if tail % RECORD as u64 != 0 || tail > MAX_INDEX {
            return Err(corrupt(CALL, offset, format!("tail {tail} out of range")));
        }
        // A sender killed between publishing a record (its stamp) and storing tail left
        // committed records past tail: follow the stamps (at most a ring's worth).
        let start = tail;
        while tail - start < capacity as u64 {
            // Acquire: pairs with the Release stamp store in Loan::commit.
            if s.w.stamp(tail).load(Ordering::Acquire) != tail + 1 {
                break;
            }
            match s.w.parse(tail, s.w.kind(tail).load(Ordering::Relaxed)) {
                Some((size, _)) => tail += size,
                None => break,
            }
        }
        if tail != start {
            s.w.tail().store(tail, Ordering::Release);
        }
        let head = s.w.head().load(Ordering::Acquire);
        if head > tail || tail - head > capacity as u64 {
            return Err(corrupt(
                CALL,
                offset,
                format!("indices out of range: head {head}, tail {tail}, capacity {capacity}"),
            ));
        }
        s.tail = tail;
        s.head_cache = head;
        Ok(s)
    }

    /// The ring's size in bytes.
    pub fn capacity(&self) -> usize {
        self.w.capacity
    }

    /// The largest message this channel accepts ([`max_message`]).
    pub fn max_message(&self) -> usize {
        max_message(self.w.capacity)
    }

    /// Whether the receiver is alive: `None` when no receiver is attached, else whether
    /// its process exists ([`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html),
    /// signal 0).
    pub fn receiver_alive(&self) -> Option<bool> {
        peer_alive(self.w.u32(RECEIVER_PID))
    }

    /// Reserves room for a message of `len` bytes and returns it to be written in place;
    /// [`Loan::commit`] makes it visible to the receiver, dropping the loan discards it.
    ///
    /// # Errors
    /// [`ErrorKind::TooBig`] when `len > max_message()`; [`ErrorKind::WouldBlock`] when the
    /// ring has no room now; [`ErrorKind::PeerDied`] when it has none and the receiver is
    /// dead; [`ErrorKind::Corrupt`] when the receiver's index is out of range.
    pub fn loan(&mut self, len: usize) -> Result<Loan<'_, R>> {
        const CALL: &str = "Sender::loan";
        let cap = self.w.capacity;
        if len > max_message(cap) {
            return Err(Error::new(
                ErrorKind::TooBig,
                CALL,
                context(self.w.offset),
                format!(
                    "a message of {len} bytes; this channel takes at most {}",
                    max_message(cap)
                ),
            ));
        }
        let need = (RECORD + round_up(len, RECORD)) as u64;
        let pos = (self.tail as usize) & (cap - 1);
        let contiguous = (cap - pos) as u64;
        let (pad, total) = if need <= contiguous {
            (0, need)
        } else {
            (contiguous, contiguous + need)
        };
        if self.tail + total + CLEAR - self.head_cache > cap as u64 {
            // Acquire: pairs with the receiver's Release store of head when it released
            // records: its reads of those bytes happen before we overwrite them.
            let head = self.w.head().load(Ordering::Acquire);
            if head > self.tail || self.tail - head > cap as u64 || head < self.head_cache {
                return Err(corrupt(
                    CALL,
                    self.w.offset,
                    format!(
                        "the receiver's index {head} is out of range (tail {}, previously {}, capacity {cap})",
                        self.tail, self.head_cache
                    ),
                ));
            }
            self.head_cache = head;
            if self.tail + total + CLEAR - head > cap as u64 {
                if let Some(pid) = dead_peer(self.w.u32(RECEIVER_PID)) {
                    return Err(Error::new(
                        ErrorKind::PeerDied,
                        CALL,
                        context(self.w.offset),
                        format!("the channel is full and its receiver (pid {pid}) is dead"),
                    ));
                }
                return Err(Error::new(
                    ErrorKind::WouldBlock,
                    CALL,
                    context(self.w.offset),
                    "the channel is full",
                ));
            }
        }
        let start = self.tail;
        Ok(Loan {
            sender: self,
            start,
            msg_at: start + pad,
            record: if pad == 0 { pos } else { 0 },
            len,
            new_tail: start + total,
        })
    }

    /// Copies `msg` into the ring and commits it. A full ring hands the message back.
    ///
    /// # Errors
    /// [`TrySendError::Full`] when there is no room now; [`TrySendError::Failed`] with the
    /// errors of [`loan`](Sender::loan) otherwise.
    pub fn try_send<'m>(&mut self, msg: &'m [u8]) -> std::result::Result<(), TrySendError<'m>> {
        match self.loan(msg.len()) {
            Ok(loan) => {
                if let Err(e) = loan.write_at(0, msg) {
                    return Err(TrySendError::Failed(msg, e));
                }
                loan.commit();
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Err(TrySendError::Full(msg)),
            Err(e) => Err(TrySendError::Failed(msg, e)),
        }
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Sender<R> {
    fn drop(&mut self) {
        self.w.release(SENDER_PID, self.pid);
    }
}

/// Room for one message, loaned by [`Sender::loan`]. Write it with
/// [`write_at`](Loan::write_at), publish it with [`commit`](Loan::commit); dropping it
/// without committing discards it.
pub struct Loan<'a, R: Deref<Target = Region<ReadWrite>>> {
    sender: &'a mut Sender<R>,
    /// Stream position of the first record: padding if the message wraps, else the message.
    start: u64,
    /// Stream position of the message's record.
    msg_at: u64,
    /// Ring position of the message's record header.
    record: usize,
    len: usize,
    /// Stream position after the message's record.
    new_tail: u64,
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Loan<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loan").field("len", &self.len).finish()
    }
}

impl<'a, R: Deref<Target = Region<ReadWrite>>> Loan<'a, R> {
    /// The message's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Offset of the message's first byte in the region.
    fn data(&self) -> usize {
        self.sender.w.offset + RING + self.record + RECORD
    }

    /// Copies `bytes` into the message at `offset` (byte-wise atomic stores).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] when the bytes reach past the message's length.
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        match offset.checked_add(bytes.len()) {
            Some(end) if end <= self.len => {
                self.sender.w.region.write_at(self.data() + offset, bytes)
            }
            _ => Err(Error::new(
                ErrorKind::OutOfBounds,
                "Loan::write_at",
                format!("offset={offset}, len={}", bytes.len()),
                format!("past the end of a message of {} bytes", self.len),
            )),
        }
    }

    /// The message's bytes as a mutable slice, for writing in place without a copy.
    ///
    /// # Safety
    /// No other process may read or write these bytes while the slice lives: a correct
    /// receiver does not look at them before [`commit`](Loan::commit), but a process that
    /// scribbles over the segment could, and that would be a data race.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the span lies inside the ring (loan checked it does not cross the end),
        // the loan borrows the sender mutably, and the caller promises exclusivity.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.sender.w.region.as_mut_ptr().add(self.data()),
                self.len,
            )
        }
    }

    /// Publishes the message: the receiver can see it from now on; wakes the receiver if it
    /// is parked.
    pub fn commit(self) {
        let w = &self.sender.w;
        // Clear ahead: the next record's stamp word must not hold its future stamp before
        // that record is committed (see the module docs). Relaxed: published with the
        // Release stamp store below, before the receiver can look there.
        w.stamp(self.new_tail).store(0, Ordering::Relaxed);
        w.kind(self.msg_at)
            .store((TAG_MSG << 32) | self.len as u64, Ordering::Relaxed);
        if self.msg_at != self.start {
            // Wrapping: the message at offset 0 is stamped first (Relaxed: the receiver
            // reaches it only through the padding record, whose Release stamp publishes it).
            w.stamp(self.msg_at)
                .store(self.msg_at + 1, Ordering::Relaxed);
            w.kind(self.start).store(TAG_PAD << 32, Ordering::Relaxed);
        }
        // Release: pairs with the receiver's Acquire load of the stamp in poll: it sees the
        // header and the message bytes written before this store. This is the commit.
        w.stamp(self.start).store(self.start + 1, Ordering::Release);
        // Release: pairs with a future sender's Acquire load in open_in.
        w.tail().store(self.new_tail, Ordering::Release);
        self.sender.tail = self.new_tail;
        wait::notify(w.u32(PARKED), w.u32(WAKE));
    }
}

/// What a successful poll found: the message's ring position and length, and the head
/// value that releases it.
#[derive(Clone, Copy)]
struct Found {
    record: usize,
    len: usize,
    next: u64,
}

impl<R: Deref<Target = Region<ReadWrite>>> Receiver<R> {
    /// Opens the channel at `offset` of `region` and becomes its receiver, waiting with
    /// [`Wait::default()`]. A receiver whose process died is replaced; messages it had read
    /// but not released are received again.
    ///
    /// # Errors
    /// As [`Sender::open_in`].
    pub fn open_in(region: R, offset: usize) -> Result<Receiver<R>> {
        const CALL: &str = "Receiver::open_in";
        let capacity = open(&region, offset, CALL)?;
        let w = Words {
            region,
            offset,
            capacity,
        };
        let pid = claim(w.u32(RECEIVER_PID), "receiver", CALL, offset)?;
        let mut r = Receiver {
            w,
            pid,
            head: 0,
            wait: Wait::default(),
        };
        // Acquire: pairs with the previous receiver's Release store of head.
        let head = r.w.head().load(Ordering::Acquire);
        if head % RECORD as u64 != 0 || head > MAX_INDEX {
            return Err(corrupt(
                CALL,
                offset,
                format!("head {head} is not a multiple of {RECORD} below 2^62"),
            ));
        }
        r.head = head;
        r.w.u32(PARKED).store(0, Ordering::Relaxed);
        Ok(r)
    }

    /// The ring's size in bytes.
    pub fn capacity(&self) -> usize {
        self.w.capacity
    }

    /// How receives wait from now on.
    pub fn set_wait(&mut self, wait: Wait) {
        self.wait = wait;
    }

    /// How receives wait.
    pub fn wait_mode(&self) -> Wait {
        self.wait
    }

    /// Whether the sender is alive: `None` when no sender is attached, else whether its
    /// process exists ([`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html),
    /// signal 0).
    pub fn sender_alive(&self) -> Option<bool> {
        peer_alive(self.w.u32(SENDER_PID))
    }

    /// Looks for the next message without waiting.
    fn poll(&mut self) -> Result<Option<Found>> {
        const CALL: &str = "Receiver::recv";
        let mut skipped_pad = false;
        loop {
            let at = self.head;
            // Acquire: pairs with the Release stamp store in Loan::commit: when the stamp
            // is ours, the header and the message bytes are written. One load; the stamp is
            // only compared.
            if self.w.stamp(at).load(Ordering::Acquire) != at + 1 {
                return Ok(None);
            }
            // One load of the length-and-tag word; everything below uses this copy.
            let word = self.w.kind(at).load(Ordering::Relaxed);
            match self.w.parse(at, word) {
                Some((size, None)) if !skipped_pad => {
                    skipped_pad = true;
                    self.head += size;
                    // Release: pairs with the sender's Acquire load of head.
                    self.w.head().store(self.head, Ordering::Release);
                }
                Some((size, Some(len))) => {
                    return Ok(Some(Found {
                        record: at as usize & (self.w.capacity - 1),
                        len,
                        next: at + size,
                    }));
                }
                _ => {
                    return Err(corrupt(
                        CALL,
                        self.w.offset,
                        format!(
                            "an invalid record header {word:#018x} at stream position {at} (ring of {})",
                            self.w.capacity
                        ),
                    ))
                }
            }
        }
    }

    fn peer_died(&self, pid: u32) -> Error {
        Error::new(
            ErrorKind::PeerDied,
            "Receiver::recv",
            context(self.w.offset),
            format!("the sender (pid {pid}) died; every message it committed was received"),
        )
    }

    /// Waits for a message as the [`Wait`] mode says, until `deadline`.
    fn wait_for(&mut self, deadline: Option<Instant>) -> Result<Found> {
        let mut spins: u32 = 0;
        loop {
            if let Some(found) = self.poll()? {
                return Ok(found);
            }
            let park = match self.wait {
                Wait::Poll => false,
                Wait::Block => true,
                Wait::Adaptive { spins: n } => spins >= n,
            };
            if !park {
                spins = spins.wrapping_add(1);
                std::hint::spin_loop();
                if spins % SPINS_PER_CHECK != 0 {
                    continue;
                }
            }
            // Check the sender, then the ring once more: a dead process commits nothing
            // more, so an empty ring after its death stays empty.
            if let Some(pid) = dead_peer(self.w.u32(SENDER_PID)) {
                if let Some(found) = self.poll()? {
                    return Ok(found);
                }
                return Err(self.peer_died(pid));
            }
            let left = wait::remaining(deadline);
            if left == Some(Duration::ZERO) {
                return Err(Error::new(
                    ErrorKind::TimedOut,
                    "Receiver::recv_timeout",
                    context(self.w.offset),
                    "no message arrived in time",
                ));
            }
            if park {
                let seen = wait::announce(self.w.u32(PARKED), self.w.u32(WAKE));
                let result = match self.poll() {
                    Ok(Some(found)) => Ok(Some(found)),
                    Ok(None) => {
                        let chunk = left.map_or(LIVENESS_PERIOD, |l| l.min(LIVENESS_PERIOD));
                        wait::sleep(self.w.u32(WAKE), seen, chunk, context(self.w.offset))
                            .map(|()| None)
                    }
                    Err(e) => Err(e),
                };
                wait::unannounce(self.w.u32(PARKED));
                if let Some(found) = result? {
                    return Ok(found);
                }
            }
        }
    }

    fn received(&mut self, found: Found) -> Received<'_, R> {
        Received {
            receiver: self,
            record: found.record,
            len: found.len,
            next: found.next,
        }
    }

    /// The next message, read in place, if one is there now.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when the ring's indices or record headers are out of range.
    pub fn try_recv_ref(&mut self) -> Result<Option<Received<'_, R>>> {
        match self.poll()? {
            Some(found) => Ok(Some(self.received(found))),
            None => Ok(None),
        }
    }

    /// The next message, read in place; waits as [`wait_mode`](Receiver::wait_mode) says.
    ///
    /// # Errors
    /// [`ErrorKind::PeerDied`] when the ring is empty and the sender is dead;
    /// [`ErrorKind::Corrupt`] as [`try_recv_ref`](Receiver::try_recv_ref).
    pub fn recv_ref(&mut self) -> Result<Received<'_, R>> {
        let found = self.wait_for(None)?;
        Ok(self.received(found))
    }

    /// As [`recv_ref`](Receiver::recv_ref), giving up after `timeout`
    /// ([`ErrorKind::TimedOut`]).
    ///
    /// # Errors
    /// As [`recv_ref`](Receiver::recv_ref), and [`ErrorKind::TimedOut`].
    pub fn recv_ref_timeout(&mut self, timeout: Duration) -> Result<Received<'_, R>> {
        let found = self.wait_for(Some(Instant::now() + timeout))?;
        Ok(self.received(found))
    }

    /// Receives the next message into `buf` (replacing its contents) and returns its
    /// length; waits as [`wait_mode`](Receiver::wait_mode) says.
    ///
    /// # Errors
    /// As [`recv_ref`](Receiver::recv_ref).
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize> {
        let msg = self.recv_ref()?;
        msg.copy_into(buf)?;
        Ok(buf.len())
    }

    /// As [`recv`](Receiver::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv_ref_timeout`](Receiver::recv_ref_timeout).
    pub fn recv_timeout(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> Result<usize> {
        let msg = self.recv_ref_timeout(timeout)?;
        msg.copy_into(buf)?;
        Ok(buf.len())
    }
}

/// A message read in place, returned by [`Receiver::recv_ref`]. Its space is released to
/// the sender when it is dropped.
pub struct Received<'a, R: Deref<Target = Region<ReadWrite>>> {
    receiver: &'a mut Receiver<R>,
    record: usize,
    len: usize,
    next: u64,
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Received<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received").field("len", &self.len).finish()
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Received<'_, R> {
    /// The message's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn data(&self) -> usize {
        self.receiver.w.offset + RING + self.record + RECORD
    }

    /// Copies message bytes from `offset` into `buf` (byte-wise atomic loads).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] when the range reaches past the message's end.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        match offset.checked_add(buf.len()) {
            Some(end) if end <= self.len => {
                self.receiver.w.region.read_at(self.data() + offset, buf)
            }
            _ => Err(Error::new(
                ErrorKind::OutOfBounds,
                "Received::read_at",
                format!("offset={offset}, len={}", buf.len()),
                format!("past the end of a message of {} bytes", self.len),
            )),
        }
    }

    /// Replaces `buf`'s contents with the message.
    ///
    /// # Errors
    /// Only if the region refuses the copy (it cannot for a checked message).
    pub fn copy_into(&self, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        buf.resize(self.len, 0);
        self.read_at(0, buf)
    }

    /// The message, copied.
    ///
    /// # Errors
    /// As [`copy_into`](Received::copy_into).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.copy_into(&mut v)?;
        Ok(v)
    }

    /// The message's bytes in place, without a copy.
    ///
    /// # Safety
    /// No process may write these bytes while the slice lives: a correct sender does not
    /// touch them until they are released, but a process that scribbles over the segment
    /// could, and that would be a data race.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the span was checked to lie inside the ring; the caller promises that
        // nobody writes it.
        unsafe {
            std::slice::from_raw_parts(self.receiver.w.region.as_ptr().add(self.data()), self.len)
        }
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Received<'_, R> {
    fn drop(&mut self) {
        self.receiver.head = self.next;
        // Release: pairs with the sender's Acquire load of head in Sender::loan: our reads
        // of the message happen before it reuses the space.
        self.receiver.w.head().store(self.next, Ordering::Release);
    }
}

pub(super) fn release_slot(slot: &AtomicU32, pid: u32) {
    // Release: pairs with the next claimer's Acquire load; our index stores are visible.
    let _ = slot.compare_exchange(pid, 0, Ordering::Release, Ordering::Relaxed);
}

impl<R: Deref<Target = Region<ReadWrite>>> Words<R> {
    fn release(&self, slot: usize, pid: u32) {
        release_slot(self.u32(slot), pid);
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Receiver<R> {
    fn drop(&mut self) {
        self.w.release(RECEIVER_PID, self.pid);
    }
}
