//! The receiving end of an SPSC channel: polling, waiting, and messages read in place.

use super::steps::{self, Found, Ring};
use super::{
    context, corrupt, open, Words, MAX_INDEX, PARKED, RECEIVER_PID, RECORD, RING, SENDER_PID, WAKE,
};
use crate::channel::endpoint::{claim, dead_peer, peer_alive};
use crate::channel::span::Span;
use crate::channel::wait::{self, Checked, Wait, Waiter};
use crate::error::{Error, ErrorKind, Result};
use crate::region::{ReadWrite, Region};
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The receiving end of an SPSC channel. One process at a time holds it.
pub struct Receiver<R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    w: Words<R>,
    pid: u32,
    /// Our copy of `head`: the only writer is us.
    head: u64,
    wait: Wait,
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

impl<R: Deref<Target = Region<ReadWrite>>> Receiver<R> {
    /// Opens the channel at `offset` of `region` and becomes its receiver, waiting with
    /// [`Wait::default()`]. A receiver whose process died is replaced; messages it had read
    /// but not released are received again.
    ///
    /// # Errors
    /// As [`Sender::open_in`](super::Sender::open_in).
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
        r.check_indices(CALL)?;
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

    /// Looks for the next message without waiting ([`steps::poll`]).
    #[inline]
    fn poll(&mut self) -> Result<Option<Found>> {
        steps::poll(&self.w, &mut self.head).map_err(|(at, word)| {
            corrupt(
                "Receiver::recv",
                self.w.offset,
                format!(
                    "an invalid record header {word:#018x} at stream position {at} (ring of {})",
                    self.w.capacity
                ),
            )
        })
    }

    /// Checks the channel's indices against our own copy of `head` ([`steps::check_indices`]).
    fn check_indices(&self, call: &'static str) -> Result<()> {
        steps::check_indices(&self.w, self.head).map_err(|(word, tail)| {
            let (head, cap) = (self.head, self.w.capacity);
            corrupt(
                call,
                self.w.offset,
                format!(
                    "indices out of range: head {word} (ours {head}), tail {tail}, capacity {cap} (a correct channel keeps head - capacity <= tail <= head + capacity)"
                ),
            )
        })
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
        wait::wait_for(self, self.wait, deadline)
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

impl<R: Deref<Target = Region<ReadWrite>>> Waiter for Receiver<R> {
    type Found = Found;

    fn look(&mut self) -> Result<Option<Found>> {
        self.poll()
    }

    fn check(&mut self) -> Result<Checked<Found>> {
        self.check_indices("Receiver::recv")?;
        // A dead process commits nothing more, so an empty ring after its death stays
        // empty: look once more after seeing the death.
        let dead = dead_peer(self.w.u32(SENDER_PID));
        wait::after_death(self, dead, |r, pid| Err(r.peer_died(pid)))
    }

    fn park_once(&mut self, chunk: Duration) -> Result<Option<Found>> {
        let seen = wait::announce(self.w.u32(PARKED), self.w.u32(WAKE));
        let result = wait::look_then_sleep(self.poll(), || {
            wait::sleep(self.w.u32(WAKE), seen, chunk, context(self.w.offset))
        });
        wait::unannounce(self.w.u32(PARKED));
        result
    }

    fn expired(&self) -> Error {
        Error::new(
            ErrorKind::TimedOut,
            "Receiver::recv_timeout",
            context(self.w.offset),
            "no message arrived in time",
        )
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

    /// The message's bytes in the region.
    #[inline]
    fn span(&self) -> Span {
        Span {
            at: self.receiver.w.offset + RING + self.record + RECORD,
            len: self.len,
        }
    }

    /// Copies message bytes from `offset` into `buf` (byte-wise atomic loads).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] when the range reaches past the message's end.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.span()
            .read_at(&self.receiver.w.region, offset, buf, "Received::read_at")
    }

    /// Replaces `buf`'s contents with the message.
    ///
    /// # Errors
    /// Only if the region refuses the copy (it cannot for a checked message).
    pub fn copy_into(&self, buf: &mut Vec<u8>) -> Result<()> {
        self.span()
            .copy_into(&self.receiver.w.region, buf, "Received::read_at")
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
        unsafe { self.span().as_slice(&self.receiver.w.region) }
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Received<'_, R> {
    fn drop(&mut self) {
        self.receiver.head = self.next;
        steps::release(&self.receiver.w, self.next);
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Receiver<R> {
    fn drop(&mut self) {
        self.w.release(RECEIVER_PID, self.pid);
    }
}
