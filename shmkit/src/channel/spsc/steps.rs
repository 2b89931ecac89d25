//! The pure atomic steps of the SPSC protocol (see the module docs): where a record goes,
//! the sender's room check and commit, the receiver's look and release, and the index
//! check of a waiting receiver. They are generic over [`Ring`], the channel's words as
//! the steps see them: the segment's words in shipped code ([`Words`](super::Words)),
//! loom's atomics in `tests/loom_channel.rs` (through `shmkit::channel::__loom` under
//! `cfg(loom)`), so the loom model checks this code. Monomorphised and inlined: the
//! shipped code runs exactly these loads, stores and fences.
//!
//! Every number a step reads from a word is loaded once; what a step cannot accept comes
//! back as the raw numbers (`Err`) for the caller to turn into [`Corrupt`] with context.
//!
//! [`Corrupt`]: crate::ErrorKind::Corrupt
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::primitive::Word;
use std::sync::atomic::Ordering;

// The layout (see the module docs of `spsc`).
/// Offset of `tail`: bytes committed by the sender (u64).
pub const TAIL: usize = 64;
/// Offset of `head`: bytes released by the receiver (u64).
pub const HEAD: usize = 128;
/// Offset of the ring.
pub const RING: usize = 256;
/// Size of a record header (stamp word, length-and-tag word); records are multiples of it.
pub const RECORD: usize = 16;
/// Room the sender keeps free after the last record, for clearing the next stamp word.
pub const CLEAR: u64 = 16;
/// Tag of a record that holds a message.
pub const TAG_MSG: u64 = 0x4d53_4721;
/// Tag of a record that fills the ring to its end.
pub const TAG_PAD: u64 = 0x5041_4421;

/// The largest message a channel of `capacity` bytes accepts: half the ring minus a record
/// header and the clear-ahead space, so that a message always fits in an empty ring,
/// wherever the indices are.
pub const fn max_message(capacity: usize) -> usize {
    capacity / 2 - RECORD - CLEAR as usize
}

/// Offset of the `tail` word from the channel's start.
#[cfg(loom)]
pub const TAIL_AT: usize = TAIL;
/// Offset of the `head` word from the channel's start.
#[cfg(loom)]
pub const HEAD_AT: usize = HEAD;
/// Offset of the ring from the channel's start.
#[cfg(loom)]
pub const RING_AT: usize = RING;

/// The words of a channel as the steps see them.
pub trait Ring {
    /// One u64 word.
    type Word: Word<Int = u64>;
    /// The ring's size in bytes (a power of two).
    fn capacity(&self) -> usize;
    /// The u64 word at `at` bytes from the channel's start: [`TAIL_AT`], [`HEAD_AT`], or
    /// [`RING_AT`] plus a ring position that is a multiple of 8 below the capacity.
    fn word(&self, at: usize) -> &Self::Word;

    /// Bytes committed by the sender.
    #[inline]
    fn tail(&self) -> &Self::Word {
        self.word(TAIL)
    }
    /// Bytes released by the receiver.
    #[inline]
    fn head(&self) -> &Self::Word {
        self.word(HEAD)
    }
    /// The stamp word of the record at stream position `at` (masked into the ring).
    #[inline]
    fn stamp(&self, at: u64) -> &Self::Word {
        self.word(RING + (at as usize & (self.capacity() - 1) & !(RECORD - 1)))
    }
    /// The length-and-tag word of the record at stream position `at`.
    #[inline]
    fn kind(&self, at: u64) -> &Self::Word {
        self.word(RING + (at as usize & (self.capacity() - 1) & !(RECORD - 1)) + 8)
    }
    /// Parses a length-and-tag word: the record's size and whether it is a message; `None`
    /// for a bad tag, a too-long message, a record past the end of the ring, or padding at
    /// offset 0 (which a correct sender never writes).
    #[inline]
    fn parse(&self, at: u64, word: u64) -> Option<(u64, Option<usize>)> {
        let cap = self.capacity();
        let pos = at as usize & (cap - 1);
        let (tag, len) = (word >> 32, (word & 0xffff_ffff) as usize);
        match tag {
            TAG_PAD if pos != 0 => Some(((cap - pos) as u64, None)),
            TAG_MSG if len <= max_message(cap) => {
                let need = RECORD + len.next_multiple_of(RECORD);
                (pos + need <= cap).then_some((need as u64, Some(len)))
            }
            _ => None,
        }
    }
}

/// Where a message goes: the records a send writes from the sender's `tail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// Stream position of the first record: padding if the message wraps, else the message.
    pub start: u64,
    /// Stream position of the message's record.
    pub msg_at: u64,
    /// Ring position of the message's record header.
    pub record: usize,
    /// Stream position after the message's record.
    pub new_tail: u64,
}

/// Sender: the records of a message of `len` bytes (at most [`max_message`]) sent at
/// `tail` in a ring of `capacity` bytes: the message's record, preceded by a padding
/// record to the ring's end when it does not fit before it. Arithmetic only.
#[inline]
pub fn reserve(capacity: usize, tail: u64, len: usize) -> Reservation {
    let need = (RECORD + len.next_multiple_of(RECORD)) as u64;
    let pos = (tail as usize) & (capacity - 1);
    let contiguous = (capacity - pos) as u64;
    let pad = if need <= contiguous { 0 } else { contiguous };
    Reservation {
        start: tail,
        msg_at: tail + pad,
        record: if pad == 0 { pos } else { 0 },
        new_tail: tail + pad + need,
    }
}

/// Sender: whether the ring has room up to `new_tail` (and the clear-ahead space) with
/// our own `tail`. Reads `head` only when the cached copy says the ring is full, and then
/// updates the cache. `Err(head)` when the receiver's index is out of range: behind the
/// cache, past `tail`, or more than a ring behind it.
#[inline]
pub fn room<G: Ring>(
    ring: &G,
    tail: u64,
    new_tail: u64,
    head_cache: &mut u64,
) -> Result<bool, u64> {
    let cap = ring.capacity() as u64;
    if new_tail + CLEAR - *head_cache > cap {
        // Acquire: pairs with the receiver's Release store of head when it released
        // records: its reads of those bytes happen before we overwrite them.
        let head = ring.head().load(Ordering::Acquire);
        if head > tail || tail - head > cap || head < *head_cache {
            return Err(head);
        }
        *head_cache = head;
        if new_tail + CLEAR - head > cap {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Sender: publishes the reserved records after the message's bytes were written (with
/// Relaxed copies): clears ahead, writes the headers, stamps (the commit) and stores
/// `tail`. The caller then wakes the receiver ([`wait::steps::bump`](crate::channel::wait::steps::bump)).
#[inline]
pub fn commit<G: Ring>(ring: &G, r: &Reservation, len: usize) {
    // Clear ahead: the next record's stamp word must not hold its future stamp before
    // that record is committed (see the module docs). Relaxed: published with the
    // Release stamp store below, before the receiver can look there.
    ring.stamp(r.new_tail).store(0, Ordering::Relaxed);
    ring.kind(r.msg_at)
        .store((TAG_MSG << 32) | len as u64, Ordering::Relaxed);
    if r.msg_at != r.start {
        // Wrapping: the message at offset 0 is stamped first (Relaxed: the receiver
        // reaches it only through the padding record, whose Release stamp publishes it).
        ring.stamp(r.msg_at).store(r.msg_at + 1, Ordering::Relaxed);
        ring.kind(r.start).store(TAG_PAD << 32, Ordering::Relaxed);
    }
    // Release: pairs with the receiver's Acquire load of the stamp in `poll`: it sees the
    // header and the message bytes written before this store. This is the commit.
    ring.stamp(r.start).store(r.start + 1, Ordering::Release);
    // Release: pairs with a future sender's Acquire load in open_in.
    ring.tail().store(r.new_tail, Ordering::Release);
}

/// What a successful look found: the message's ring position and length, and the head
/// value that releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Ring position of the message's record header.
    pub record: usize,
    /// The message's length.
    pub len: usize,
    /// The head value that releases it.
    pub next: u64,
}

/// Receiver: looks for the next message at our `head`, without waiting; passes over (and
/// releases) one padding record. `Err((at, word))` for an invalid record header.
#[inline]
pub fn poll<G: Ring>(ring: &G, head: &mut u64) -> Result<Option<Found>, (u64, u64)> {
    let mut skipped_pad = false;
    loop {
        let at = *head;
        // Acquire: pairs with the Release stamp store in `commit`: when the stamp is ours,
        // the header and the message bytes are written. One load; the stamp is only
        // compared.
        if ring.stamp(at).load(Ordering::Acquire) != at + 1 {
            return Ok(None);
        }
        // One load of the length-and-tag word; everything below uses this copy.
        let word = ring.kind(at).load(Ordering::Relaxed);
        match ring.parse(at, word) {
            Some((size, None)) if !skipped_pad => {
                skipped_pad = true;
                *head += size;
                // Release: pairs with the sender's Acquire load of head.
                ring.head().store(*head, Ordering::Release);
            }
            Some((size, Some(len))) => {
                return Ok(Some(Found {
                    record: at as usize & (ring.capacity() - 1),
                    len,
                    next: at + size,
                }));
            }
            _ => return Err((at, word)),
        }
    }
}

/// Receiver: releases a received message (its bytes were read before).
#[inline]
pub fn release<G: Ring>(ring: &G, next: u64) {
    // Release: pairs with the sender's Acquire load of head in `room`: our reads of the
    // message happen before it reuses the space.
    ring.head().store(next, Ordering::Release);
}

/// Receiver: checks the channel's indices against our own copy `head` (the slow path of
/// a wait, and open): the `head` word must hold our copy (we are its only writer), and
/// `tail` must be within a ring of it either way: `tail <= head + capacity` (the sender
/// never commits past the room it saw, and what it saw of `head` is at most ours), and
/// `head <= tail + capacity` (`tail` trails the stamps we followed by at most the one
/// commit whose stamp came before its `tail` store, which is smaller than the ring; we
/// read the stamps with Acquire, and that commit's `tail` store came after the previous
/// commit's). `Err((head word, tail))` otherwise.
#[inline]
pub fn check_indices<G: Ring>(ring: &G, head: u64) -> Result<(), (u64, u64)> {
    // Relaxed: only compared (see above for why no ordering is needed).
    let word = ring.head().load(Ordering::Relaxed);
    let tail = ring.tail().load(Ordering::Relaxed);
    let cap = ring.capacity() as u64;
    if word != head || tail > head.saturating_add(cap) || head > tail.saturating_add(cap) {
        return Err((word, tail));
    }
    Ok(())
}
