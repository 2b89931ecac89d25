//! The consuming side of the MPMC queue: claim a position, read the slot, release it.

use super::steps::{self, Cells, Claimed};
use super::{context, Queue, CONSUMER, PRODUCER};
use crate::channel::span::Span;
use crate::channel::wait::steps::{announce_count, unannounce_count};
use crate::channel::wait::{self, Checked, Wait, Waiter};
use crate::error::{Error, ErrorKind, Result};
use crate::region::{ReadWrite, Region};
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A consuming handle on an MPMC queue. Any number of consumers, in any processes, may be
/// open at once; each message goes to exactly one of them.
pub struct Consumer<R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    q: Queue<R>,
    entry: usize,
    wait: Wait,
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Consumer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("offset", &self.q.offset)
            .field("capacity", &self.q.capacity)
            .field("message_size", &self.q.message_size)
            .field("wait", &self.wait)
            .finish()
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Consumer<R> {
    /// Opens the queue at `offset` of `region` as a consumer, waiting with
    /// [`Wait::default()`].
    ///
    /// # Errors
    /// As [`Producer::open_in`](super::Producer::open_in).
    pub fn open_in(region: R, offset: usize) -> Result<Consumer<R>> {
        const CALL: &str = "Consumer::open_in";
        let q = Queue::open(region, offset, CALL)?;
        let entry = q.register(CONSUMER, CALL)?;
        Ok(Consumer {
            q,
            entry,
            wait: Wait::default(),
        })
    }

    /// How many messages the queue holds.
    pub fn capacity(&self) -> usize {
        self.q.capacity
    }

    /// The largest message the queue takes.
    pub fn message_size(&self) -> usize {
        self.q.message_size
    }

    /// How receives wait from now on.
    pub fn set_wait(&mut self, wait: Wait) {
        self.wait = wait;
    }

    /// How receives wait.
    pub fn wait_mode(&self) -> Wait {
        self.wait
    }

    /// Whether any producer is alive: `None` when no producer is registered, else whether
    /// one of their processes exists ([`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html), signal 0).
    pub fn producers_alive(&self) -> Option<bool> {
        let registered = (0..super::MAX_HANDLES)
            .any(|i| (self.q.entry(i).0.load(Ordering::Relaxed) >> 32) as u32 == PRODUCER);
        registered.then(|| self.q.all_dead(PRODUCER).is_none())
    }

    /// Releases the slot of a claimed position to the next lap's producer
    /// ([`steps::release`]).
    fn release(&self, c: Claimed) -> Result<()> {
        steps::release(&self.q, &c).map_err(|bad| self.q.bad("Consumer::recv", bad))
    }

    /// Claims the next message without waiting ([`steps::take`]): `Ok(None)` when there is
    /// none now, or when [`MAX_STEPS`](super::steps::MAX_STEPS) lost races and skips went by
    /// without one.
    #[inline]
    fn poll(&mut self) -> Result<Option<Claimed>> {
        steps::take(&self.q, self.entry, self.q.message_size)
            .map_err(|bad| self.q.bad("Consumer::recv", bad))
    }

    /// Waits for a message as the [`Wait`] mode says, until `deadline`.
    fn wait_for(&mut self, deadline: Option<Instant>) -> Result<Claimed> {
        wait::wait_for(self, self.wait, deadline)
    }

    fn received(&mut self, c: Claimed) -> Received<'_, R> {
        Received {
            consumer: self,
            c,
            done: false,
        }
    }

    /// The next message, read in place, if one is there now.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] for an impossible position, sequence word or length.
    pub fn try_recv_ref(&mut self) -> Result<Option<Received<'_, R>>> {
        let claimed = self.poll()?;
        Ok(claimed.map(|c| self.received(c)))
    }

    /// The next message, read in place; waits as [`wait_mode`](Consumer::wait_mode) says.
    ///
    /// # Errors
    /// [`ErrorKind::PeerDied`] when the queue is empty and every registered producer is
    /// dead; [`ErrorKind::Corrupt`] as [`try_recv_ref`](Consumer::try_recv_ref).
    pub fn recv_ref(&mut self) -> Result<Received<'_, R>> {
        self.wait_for(None).map(|c| self.received(c))
    }

    /// As [`recv_ref`](Consumer::recv_ref), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv_ref`](Consumer::recv_ref), and [`ErrorKind::TimedOut`].
    pub fn recv_ref_timeout(&mut self, timeout: Duration) -> Result<Received<'_, R>> {
        self.wait_for(Some(Instant::now() + timeout))
            .map(|c| self.received(c))
    }

    fn check_buf(&self, buf: &[u8]) -> Result<()> {
        if buf.len() < self.q.message_size {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "Consumer::recv",
                context(self.q.offset),
                format!(
                    "a buffer of {} bytes; messages here have up to {}",
                    buf.len(),
                    self.q.message_size
                ),
            ));
        }
        Ok(())
    }

    fn copy_out(&mut self, c: Claimed, buf: &mut [u8]) -> Result<usize> {
        self.received(c).finish_into(buf)
    }

    /// Copies the next message into `buf` (at least [`message_size`](Consumer::message_size)
    /// bytes) and returns its length, if one is there now.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a short buffer; as
    /// [`try_recv_ref`](Consumer::try_recv_ref).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.check_buf(buf)?;
        match self.poll()? {
            Some(c) => self.copy_out(c, buf).map(Some),
            None => Ok(None),
        }
    }

    /// Copies the next message into `buf` and returns its length; waits as
    /// [`wait_mode`](Consumer::wait_mode) says.
    ///
    /// # Errors
    /// As [`try_recv`](Consumer::try_recv) and [`recv_ref`](Consumer::recv_ref).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.check_buf(buf)?;
        let c = self.wait_for(None)?;
        self.copy_out(c, buf)
    }

    /// As [`recv`](Consumer::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv`](Consumer::recv), and [`ErrorKind::TimedOut`].
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.check_buf(buf)?;
        let c = self.wait_for(Some(Instant::now() + timeout))?;
        self.copy_out(c, buf)
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Consumer<R> {
    fn drop(&mut self) {
        self.q.unregister(self.entry, CONSUMER);
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Waiter for Consumer<R> {
    type Found = Claimed;

    fn look(&mut self) -> Result<Option<Claimed>> {
        self.poll()
    }

    fn check(&mut self) -> Result<Checked<Claimed>> {
        const CALL: &str = "Consumer::recv";
        // Stuck for a while: check the positions, repair a slot a dead producer left
        // claimed, then check whether any producer lives (a dead one publishes nothing
        // more).
        if self.q.recover(true, CALL)? {
            return Ok(Checked::Again);
        }
        let dead = self.q.all_dead(PRODUCER);
        wait::after_death(self, dead, |c, pid| {
            // Messages claimed by dead producers are still in flight until repaired.
            let (dequeue, enqueue) = c.q.positions(CALL)?;
            if enqueue <= dequeue {
                return Err(Error::new(
                    ErrorKind::PeerDied,
                    CALL,
                    context(c.q.offset),
                    format!("the producers are dead (pid {pid}, ...); every message they published was received"),
                ));
            }
            Ok(Checked::Wait)
        })
    }

    fn park_once(&mut self, chunk: Duration) -> Result<Option<Claimed>> {
        let seen = announce_count(self.q.parked(), self.q.wake());
        let result = wait::look_then_sleep(self.poll(), || {
            wait::sleep(self.q.wake(), seen, chunk, context(self.q.offset))
        });
        unannounce_count(self.q.parked());
        result
    }

    fn expired(&self) -> Error {
        Error::new(
            ErrorKind::TimedOut,
            "Consumer::recv_timeout",
            context(self.q.offset),
            "no message arrived in time",
        )
    }
}

/// A message read in place, returned by [`Consumer::recv_ref`]. Its slot is released to
/// the producers when it is dropped (or by [`finish`](Received::finish), which says
/// whether the bytes read were stable).
pub struct Received<'a, R: Deref<Target = Region<ReadWrite>>> {
    consumer: &'a mut Consumer<R>,
    c: Claimed,
    done: bool,
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Received<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("pos", &self.c.pos)
            .field("len", &self.c.len)
            .finish()
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Received<'_, R> {
    /// The message's length.
    pub fn len(&self) -> usize {
        self.c.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.c.len == 0
    }

    /// Copies message bytes from `offset` into `buf` (byte-wise atomic loads).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] when the range reaches past the message's end.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        let q = &self.consumer.q;
        let span = Span {
            at: q.data(self.c.pos),
            len: self.c.len,
        };
        span.read_at(&q.region, offset, buf, "Received::read_at")
    }

    /// The message, copied.
    ///
    /// # Errors
    /// Only if the region refuses the copy (it cannot for a checked message).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0; self.c.len];
        self.read_at(0, &mut v)?;
        Ok(v)
    }

    /// Releases the slot, and says whether the message stayed ours while it was read.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when the slot was repaired as a dead consumer's meanwhile
    /// (only a scribbled handle table makes a live consumer look dead): what was read may
    /// be torn.
    pub fn finish(mut self) -> Result<()> {
        self.done = true;
        self.consumer.release(self.c)
    }

    /// Copies the message into `buf` (long enough, checked by the caller) and releases it.
    fn finish_into(self, buf: &mut [u8]) -> Result<usize> {
        let len = self.c.len;
        let read = self.read_at(0, &mut buf[..len]);
        let released = self.finish();
        read.and(released).map(|()| len)
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Received<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.consumer.release(self.c);
        }
    }
}
