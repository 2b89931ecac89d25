//! The publishing end: loans, commits, and waking sleepers.

use super::steps;
use super::{context, open, Words, HEAD, PARKED, PUBLISHER_PID, SLOT_HEADER, TABLE, WAKE};
use crate::channel::endpoint::{claim, release};
use crate::channel::span::Span;
use crate::error::{Error, ErrorKind, Result};
use crate::region::{ReadWrite, Region};
use crate::sys::futex;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{fence, Ordering};

/// The publishing end of a pub-sub channel. One process at a time holds it: its pid is
/// recorded in the channel, and another opener gets [`ErrorKind::Busy`] while that process
/// lives. Publishing never waits: the oldest message is overwritten when the ring is full.
pub struct Publisher<R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    w: Words<R>,
    pid: u32,
    /// The sequence number of the next message: only we write `head`.
    next: u64,
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Publisher<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("offset", &self.w.offset)
            .field("slots", &self.w.slots)
            .field("slot_size", &self.w.slot_size)
            .field("next", &self.next)
            .finish()
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Publisher<R> {
    /// Opens the channel at `offset` of `region` and becomes its publisher. A publisher whose
    /// process died is replaced, and the sequence goes on where it stopped (a message it was
    /// writing when it died is written again under the same number).
    ///
    /// # Errors
    /// The header's errors ([`ErrorKind::NotInitialised`], [`ErrorKind::LayoutMismatch`],
    /// [`ErrorKind::ForeignNamespace`], ...); [`ErrorKind::Busy`] while another live process
    /// publishes; [`ErrorKind::Corrupt`] when `head` is out of range.
    pub fn open_in(region: R, offset: usize) -> Result<Publisher<R>> {
        const CALL: &str = "Publisher::open_in";
        let w = open(region, offset, CALL)?;
        let pid = claim(w.u32(PUBLISHER_PID), "publisher", CALL, offset)?;
        let mut p = Publisher { w, pid, next: 0 };
        p.next = p.w.newest(CALL)?;
        // Release: a late joiner that reads head sees the slot it names.
        p.w.u64(HEAD).store(p.next, Ordering::Release);
        // Release fence: orders the head store before the (Relaxed) odd stamp of our first
        // loan, so a subscriber that sees that stamp sees head at least at its message
        // (the later loans follow notify's SeqCst fence). Subscribers rely on it to tell a
        // scribbled stamp from a lap (a stamp never names a message past head).
        fence(Ordering::Release);
        Ok(p)
    }

    /// The number of slots: how many messages the ring holds.
    pub fn slots(&self) -> usize {
        self.w.slots
    }

    /// The largest message, in bytes.
    pub fn slot_size(&self) -> usize {
        self.w.slot_size
    }

    /// The sequence number the next message will get (= messages published so far).
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// How many subscribers sleep (or are about to) and asked to be woken: the bits set in
    /// the channel's `parked` word (read-write subscribers only; see the module docs).
    pub fn parked(&self) -> u32 {
        self.w.u64(PARKED).load(Ordering::Relaxed).count_ones()
    }

    /// Claims the slot of the next message for a message of `len` bytes, to be written in
    /// place; [`Loan::commit`] publishes it. The slot's previous message (the oldest in the
    /// ring) is gone from this moment, even if the loan is dropped without a commit (the
    /// next loan then reuses the same sequence number).
    ///
    /// # Errors
    /// [`ErrorKind::TooBig`] when `len > slot_size()`.
    pub fn loan(&mut self, len: usize) -> Result<Loan<'_, R>> {
        if len > self.w.slot_size {
            return Err(Error::new(
                ErrorKind::TooBig,
                "Publisher::loan",
                context(self.w.offset),
                format!(
                    "a message of {len} bytes; this channel's slots take at most {}",
                    self.w.slot_size
                ),
            ));
        }
        let seq = self.next;
        let slot = steps::begin(&self.w, seq);
        Ok(Loan {
            publisher: self,
            slot,
            len,
            seq,
        })
    }

    /// Copies `msg` into the next slot and publishes it; returns its sequence number.
    ///
    /// # Errors
    /// As [`loan`](Publisher::loan).
    pub fn publish(&mut self, msg: &[u8]) -> Result<u64> {
        let loan = self.loan(msg.len())?;
        loan.write_at(0, msg)?;
        Ok(loan.commit())
    }

    /// Wakes sleeping subscribers as the channel's policy says (see the module docs).
    fn notify(&self) {
        let w = &self.w;
        let Some(parked) = steps::bump(w, w.always_wake) else {
            return;
        };
        let woken = futex::wake(w.u32(WAKE), i32::MAX);
        if parked != 0 && matches!(woken, Ok(0)) {
            self.clear_departed(parked);
        }
    }

    /// Nobody was asleep although bits are set: clears the bits of subscribers that left
    /// or died (a live one may just be between setting its bit and sleeping).
    #[cold]
    fn clear_departed(&self, parked: u64) {
        for i in 0..64 {
            if parked & (1 << i) == 0 {
                continue;
            }
            let pid = self.w.u32(TABLE + 4 * i).load(Ordering::Relaxed);
            if pid == 0 || crate::sys::process::process_exists(pid as i32) == Some(false) {
                self.w.u64(PARKED).fetch_and(!(1 << i), Ordering::Relaxed);
            }
        }
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Publisher<R> {
    fn drop(&mut self) {
        release(self.w.u32(PUBLISHER_PID), self.pid);
    }
}

/// A slot claimed by [`Publisher::loan`], written in place and published by
/// [`commit`](Loan::commit).
pub struct Loan<'a, R: Deref<Target = Region<ReadWrite>>> {
    publisher: &'a mut Publisher<R>,
    slot: usize,
    len: usize,
    seq: u64,
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Loan<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loan")
            .field("seq", &self.seq)
            .field("len", &self.len)
            .finish()
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Loan<'_, R> {
    /// The message's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sequence number the message gets.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The message's bytes in the region.
    #[inline]
    fn span(&self) -> Span {
        Span {
            at: self.publisher.w.offset + self.slot + SLOT_HEADER,
            len: self.len,
        }
    }

    /// Copies `bytes` into the message at `offset` (byte-wise atomic stores).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] when the bytes reach past the message's length.
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        self.span()
            .write_at(&self.publisher.w.region, offset, bytes, "Loan::write_at")
    }

    /// The message's bytes as a mutable slice, for writing in place without a copy.
    ///
    /// # Safety
    /// No other process may read or write these bytes while the slice lives. Subscribers
    /// do read them (a lagging one may be copying the slot's previous message): only a
    /// caller who knows that no subscriber is a lap behind, and that nobody scribbles over
    /// the segment, can promise that. [`write_at`](Loan::write_at) has no such condition.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the slot lies inside the channel (masked index, checked at open) and has
        // room for `len <= slot_size` bytes after its header; the loan borrows the
        // publisher mutably, and the caller promises exclusivity.
        unsafe { self.span().as_mut_slice(&self.publisher.w.region) }
    }

    /// Publishes the message and returns its sequence number; wakes sleeping subscribers
    /// as the channel's policy says.
    pub fn commit(self) -> u64 {
        let p = self.publisher;
        steps::commit(&p.w, self.slot, self.seq, self.len);
        p.next = self.seq + 1;
        p.notify();
        self.seq
    }
}
