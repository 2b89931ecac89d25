//! The subscribing end: a private cursor, validated reads, loss accounting, waiting.

use super::steps::{self, Found, Look};
use super::{
    context, corrupt, open, Words, MAX_REGISTERED, PARKED, PUBLISHER_PID, SLOT_HEADER, TABLE, WAKE,
};
use crate::channel::endpoint::{claim, dead_peer, peer_alive, release};
use crate::channel::span::Span;
use crate::channel::wait::{self, Checked, Wait, Waiter};
use crate::error::{Error, ErrorKind, Result};
use crate::region::{Access, ReadOnly, Region};
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The subscribing end of a pub-sub channel. Its cursor lives in this process, so any
/// number of subscribers can follow one channel, over read-only attachments too
/// (`A` = [`ReadOnly`]). A read-write subscriber (`A` = [`ReadWrite`](crate::ReadWrite))
/// registers in the channel's table of [`MAX_REGISTERED`](super::MAX_REGISTERED) entries so
/// that it can ask to be woken (see the module docs).
///
/// Every message is accounted for: from the moment it opened, each message of the
/// sequence is either received or counted as lost ([`received_total`],
/// [`lost_total`]; their sum is how far the cursor moved).
///
/// [`received_total`]: Subscriber::received_total
/// [`lost_total`]: Subscriber::lost_total
pub struct Subscriber<R, A: Access = ReadOnly>
where
    R: Deref<Target = Region<A>>,
{
    w: Words<R>,
    /// Our table entry and pid, when registered (read-write mappings only).
    entry: Option<(usize, u32)>,
    /// The sequence number of the next message we want.
    cursor: u64,
    /// Messages lost since the last delivery, reported with the next one.
    pending: u64,
    received: u64,
    lost: u64,
    wait: Wait,
    access: PhantomData<fn() -> A>,
}

impl<R: Deref<Target = Region<A>>, A: Access> fmt::Debug for Subscriber<R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("offset", &self.w.offset)
            .field("cursor", &self.cursor)
            .field("received", &self.received)
            .field("lost", &self.lost)
            .field("wait", &self.wait)
            .field("registered", &self.entry.map(|(i, _)| i))
            .finish()
    }
}

/// What a copying receive got: the message's sequence number and length, and how many
/// messages were lost just before it (overwritten before this subscriber read them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The message's sequence number.
    pub seq: u64,
    /// Its length in bytes.
    pub len: usize,
    /// Messages lost between the previous delivery (or the subscription) and this one.
    pub lost: u64,
}

/// Whether the bytes read from a [`Sample`] are the message's: the slot's stamp was
/// checked again after the copy.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The slot still holds the message: what was read is exactly what was published.
    Intact,
    /// The publisher overwrote the slot while (or before) it was read: the bytes may be
    /// torn; the message counts as lost.
    Overwritten,
}

impl Check {
    /// Whether the read is the message's.
    pub fn is_intact(self) -> bool {
        self == Check::Intact
    }
}

impl<R: Deref<Target = Region<A>>, A: Access> Subscriber<R, A> {
    /// Opens the channel at `offset` of `region` and subscribes from the next message
    /// published. A read-only subscriber starts with [`Wait::Poll`] under the
    /// [`Wakeups::Parked`](super::Wakeups::Parked) policy, else with [`Wait::default()`].
    ///
    /// # Errors
    /// The header's errors ([`ErrorKind::NotInitialised`], [`ErrorKind::LayoutMismatch`],
    /// ...); [`ErrorKind::LimitExceeded`] when a read-write subscriber finds all
    /// [`MAX_REGISTERED`](super::MAX_REGISTERED) entries taken by live processes;
    /// [`ErrorKind::Corrupt`] when `head` is out of range.
    pub fn open_in(region: R, offset: usize) -> Result<Subscriber<R, A>> {
        Subscriber::open_last(region, offset, 0)
    }

    /// As [`open_in`](Subscriber::open_in), starting `k` messages back: the first receives
    /// return the last `k` messages published (fewer if fewer were published or the ring
    /// holds fewer), then new ones.
    ///
    /// # Errors
    /// As [`open_in`](Subscriber::open_in).
    pub fn open_last(region: R, offset: usize, k: u64) -> Result<Subscriber<R, A>> {
        const CALL: &str = "Subscriber::open_in";
        let w = open(region, offset, CALL)?;
        let wait = if A::WRITABLE || w.always_wake {
            Wait::default()
        } else {
            Wait::Poll
        };
        let mut s = Subscriber {
            w,
            entry: None,
            cursor: 0,
            pending: 0,
            received: 0,
            lost: 0,
            wait,
            access: PhantomData,
        };
        if A::WRITABLE {
            s.entry = Some(s.register(CALL)?);
        }
        let newest = s.w.newest(CALL)?;
        s.cursor = newest - k.min(newest).min(s.w.slots as u64);
        Ok(s)
    }

    /// Takes a free (or dead process's) entry of the subscriber table.
    fn register(&self, call: &'static str) -> Result<(usize, u32)> {
        for i in 0..MAX_REGISTERED {
            match claim(self.w.u32(TABLE + 4 * i), "subscriber", call, self.w.offset) {
                Ok(pid) => {
                    // A dead predecessor may have left its parked bit set. (Writable:
                    // only read-write subscribers register.)
                    self.w.u64(PARKED).fetch_and(!(1 << i), Ordering::Relaxed);
                    return Ok((i, pid));
                }
                Err(e) if e.kind() == ErrorKind::Busy => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::LimitExceeded,
            call,
            context(self.w.offset),
            format!("all {MAX_REGISTERED} read-write subscriber entries are taken by live processes (read-only subscribers need none)"),
        ))
    }

    /// The number of slots: how many messages the ring holds.
    pub fn slots(&self) -> usize {
        self.w.slots
    }

    /// The largest message, in bytes.
    pub fn slot_size(&self) -> usize {
        self.w.slot_size
    }

    /// The sequence number of the next message this subscriber wants.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Messages received (intact) since opening.
    pub fn received_total(&self) -> u64 {
        self.received
    }

    /// Messages lost (overwritten before or while they were read) since opening.
    pub fn lost_total(&self) -> u64 {
        self.lost
    }

    /// How receives wait from now on.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] for [`Wait::Block`] and [`Wait::Adaptive`] on a read-only
    /// subscriber of a channel created with [`Wakeups::Parked`](super::Wakeups::Parked):
    /// it cannot tell the publisher that it sleeps.
    pub fn set_wait(&mut self, wait: Wait) -> Result<()> {
        if wait != Wait::Poll && self.entry.is_none() && !self.w.always_wake {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "Subscriber::set_wait",
                context(self.w.offset),
                "a read-only subscriber can only poll a channel created with Wakeups::Parked (create it with Wakeups::Always, or attach read-write)",
            ));
        }
        self.wait = wait;
        Ok(())
    }

    /// How receives wait.
    pub fn wait_mode(&self) -> Wait {
        self.wait
    }

    /// Whether the publisher is alive: `None` when no publisher is attached, else whether
    /// its process exists ([`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html),
    /// signal 0).
    pub fn publisher_alive(&self) -> Option<bool> {
        peer_alive(self.w.u32(PUBLISHER_PID))
    }

    /// Counts `n` messages from the cursor on as lost and moves past them.
    fn skip(&mut self, n: u64) {
        self.cursor += n;
        self.pending += n;
        self.lost += n;
    }

    /// Looks at the slot of the cursor's message without waiting; moves the cursor forward
    /// when the publisher lapped us.
    fn poll(&mut self) -> Result<Option<Found>> {
        const CALL: &str = "Subscriber::recv";
        // A few laps at most: a publisher that laps us again at once is seen by the caller
        // as "nothing yet", so that deadlines are checked.
        for _ in 0..4 {
            let c = self.cursor;
            match steps::look(&self.w, c) {
                Look::Nothing => return Ok(None),
                Look::Found(found) => return Ok(Some(found)),
                Look::Again => continue,
                Look::Lapped { to } => self.skip(to - c),
                Look::BadLength(len) => {
                    return Err(corrupt(
                        CALL,
                        self.w.offset,
                        format!(
                            "message {c} has length {len}, past the slot size {}",
                            self.w.slot_size
                        ),
                    ))
                }
                Look::BadStamp { stamp, head } => {
                    return Err(corrupt(
                        CALL,
                        self.w.offset,
                        format!("the slot of message {c} has stamp {stamp} (head {head}; a correct channel's stamps name messages up to head)"),
                    ))
                }
            }
        }
        Ok(None)
    }

    fn peer_died(&self, pid: u32) -> Error {
        Error::new(
            ErrorKind::PeerDied,
            "Subscriber::recv",
            context(self.w.offset),
            format!(
                "the publisher (pid {pid}) died; every message it committed was received or lost"
            ),
        )
    }

    fn timed_out(&self) -> Error {
        Error::new(
            ErrorKind::TimedOut,
            "Subscriber::recv_timeout",
            context(self.w.offset),
            "no message arrived in time",
        )
    }

    /// Sleeps on the wake word for at most `chunk`, announcing it first when registered;
    /// returns a message found on the last look before sleeping.
    fn park(&mut self, chunk: Duration) -> Result<Option<Found>> {
        // Writable: only read-write subscribers have an entry.
        let bit = self.entry.map(|(i, _)| 1u64 << i);
        let seen = steps::announce(&self.w, bit);
        let result = wait::look_then_sleep(self.poll(), || {
            wait::sleep(self.w.u32(WAKE), seen, chunk, context(self.w.offset))
        });
        steps::unannounce(&self.w, bit);
        result
    }

    /// Waits for the cursor's message as the [`Wait`] mode says, until `deadline`.
    fn wait_for(&mut self, deadline: Option<Instant>) -> Result<Found> {
        wait::wait_for(self, self.wait, deadline)
    }

    fn sample(&mut self, found: Found) -> Sample<'_, R, A> {
        let seq = self.cursor;
        let lost = std::mem::take(&mut self.pending);
        Sample {
            sub: self,
            found,
            seq,
            lost,
            torn: Cell::new(false),
        }
    }

    /// The next message, read in place, if one is there now.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when the slot's stamp, length or `head` are out of range.
    pub fn try_recv_ref(&mut self) -> Result<Option<Sample<'_, R, A>>> {
        match self.poll()? {
            Some(found) => Ok(Some(self.sample(found))),
            None => Ok(None),
        }
    }

    /// The next message, read in place; waits as [`wait_mode`](Subscriber::wait_mode) says.
    ///
    /// # Errors
    /// [`ErrorKind::PeerDied`] when nothing is there and the publisher is dead;
    /// [`ErrorKind::Corrupt`] as [`try_recv_ref`](Subscriber::try_recv_ref).
    pub fn recv_ref(&mut self) -> Result<Sample<'_, R, A>> {
        let found = self.wait_for(None)?;
        Ok(self.sample(found))
    }

    /// As [`recv_ref`](Subscriber::recv_ref), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv_ref`](Subscriber::recv_ref), and [`ErrorKind::TimedOut`].
    pub fn recv_ref_timeout(&mut self, timeout: Duration) -> Result<Sample<'_, R, A>> {
        let found = self.wait_for(Some(Instant::now() + timeout))?;
        Ok(self.sample(found))
    }

    /// Copies the found message into `buf`; `None` when it was overwritten meanwhile (then
    /// counted as lost and reported with the next delivery).
    fn take(&mut self, found: Found, buf: &mut Vec<u8>) -> Result<Option<Delivery>> {
        let sample = self.sample(found);
        Ok(match sample.copy_into(buf)? {
            Check::Intact => Some(Delivery {
                seq: sample.seq,
                len: sample.found.len,
                lost: sample.lost,
            }),
            Check::Overwritten => None,
        })
    }

    /// Receives the next message into `buf` (replacing its contents), if one is there now.
    ///
    /// # Errors
    /// As [`try_recv_ref`](Subscriber::try_recv_ref).
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<Option<Delivery>> {
        for _ in 0..4 {
            let Some(found) = self.poll()? else {
                return Ok(None);
            };
            if let Some(d) = self.take(found, buf)? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    fn recv_until(&mut self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> Result<Delivery> {
        loop {
            let found = self.wait_for(deadline)?;
            if let Some(d) = self.take(found, buf)? {
                return Ok(d);
            }
            if wait::remaining(deadline) == Some(Duration::ZERO) {
                return Err(self.timed_out());
            }
        }
    }

    /// Receives the next message into `buf` (replacing its contents); waits as
    /// [`wait_mode`](Subscriber::wait_mode) says. A message overwritten while it was copied
    /// is counted as lost and the next one is received instead.
    ///
    /// # Errors
    /// As [`recv_ref`](Subscriber::recv_ref).
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<Delivery> {
        self.recv_until(buf, None)
    }

    /// As [`recv`](Subscriber::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv_ref_timeout`](Subscriber::recv_ref_timeout).
    pub fn recv_timeout(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> Result<Delivery> {
        self.recv_until(buf, Some(Instant::now() + timeout))
    }
}

impl<R: Deref<Target = Region<A>>, A: Access> Drop for Subscriber<R, A> {
    fn drop(&mut self) {
        if let Some((i, pid)) = self.entry {
            self.w.u64(PARKED).fetch_and(!(1 << i), Ordering::Relaxed);
            release(self.w.u32(TABLE + 4 * i), pid);
        }
    }
}

impl<R: Deref<Target = Region<A>>, A: Access> Waiter for Subscriber<R, A> {
    type Found = Found;

    fn look(&mut self) -> Result<Option<Found>> {
        self.poll()
    }

    fn check(&mut self) -> Result<Checked<Found>> {
        // Our cursor against the channel's head: the cursor only moves to a message whose
        // committed stamp we saw (Acquire; its publisher stored `head` >= that message
        // before), to a lapped position computed from a `head` we read, or to at most
        // `newest` at open. So `cursor <= head + 1`, with the head loaded now (it only
        // grows). A cursor further ahead waits for messages that are not coming.
        if let Err(head) = steps::check_cursor(&self.w, self.cursor) {
            return Err(corrupt(
                "Subscriber::recv",
                self.w.offset,
                format!(
                    "head {head} is behind the cursor {} (a correct channel keeps cursor <= head + 1)",
                    self.cursor
                ),
            ));
        }
        // A dead publisher commits nothing more: if the slot is still empty after its
        // death, nothing will come.
        let dead = dead_peer(self.w.u32(PUBLISHER_PID));
        wait::after_death(self, dead, |s, pid| Err(s.peer_died(pid)))
    }

    fn park_once(&mut self, chunk: Duration) -> Result<Option<Found>> {
        self.park(chunk)
    }

    fn expired(&self) -> Error {
        self.timed_out()
    }
}

/// A message read in place, returned by [`Subscriber::recv_ref`]. Every read re-validates
/// the slot's stamp and says whether the bytes are the message's ([`Check`]); the
/// publisher may overwrite the slot at any time, since it never waits.
///
/// Dropping it moves the subscriber past the message: it counts as received, unless a
/// check said [`Check::Overwritten`]; then it counts as lost and is reported, with the
/// losses this sample carried, by the next delivery.
pub struct Sample<'a, R: Deref<Target = Region<A>>, A: Access = ReadOnly> {
    sub: &'a mut Subscriber<R, A>,
    found: Found,
    seq: u64,
    lost: u64,
    torn: Cell<bool>,
}

impl<R: Deref<Target = Region<A>>, A: Access> fmt::Debug for Sample<'_, R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sample")
            .field("seq", &self.seq)
            .field("len", &self.found.len)
            .field("lost", &self.lost)
            .finish()
    }
}

impl<R: Deref<Target = Region<A>>, A: Access> Sample<'_, R, A> {
    /// The message's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Messages lost just before this one.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The message's length.
    pub fn len(&self) -> usize {
        self.found.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.found.len == 0
    }

    /// Checks the slot's stamp again: whether everything read so far is the message's.
    pub fn check(&self) -> Check {
        if self.torn.get() || !steps::intact(&self.sub.w, &self.found) {
            self.torn.set(true);
            return Check::Overwritten;
        }
        Check::Intact
    }

    /// Copies message bytes from `offset` into `buf` (byte-wise atomic loads), then
    /// checks the stamp.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] when the range reaches past the message's end.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<Check> {
        let span = Span {
            at: self.sub.w.offset + self.found.slot + SLOT_HEADER,
            len: self.found.len,
        };
        span.read_at(&self.sub.w.region, offset, buf, "Sample::read_at")?;
        Ok(self.check())
    }

    /// Replaces `buf`'s contents with the message, then checks the stamp.
    ///
    /// # Errors
    /// Only if the region refuses the copy (it cannot for a checked message).
    pub fn copy_into(&self, buf: &mut Vec<u8>) -> Result<Check> {
        buf.clear();
        buf.resize(self.found.len, 0);
        self.read_at(0, buf)
    }
}

impl<R: Deref<Target = Region<A>>, A: Access> Drop for Sample<'_, R, A> {
    fn drop(&mut self) {
        let sub = &mut *self.sub;
        sub.cursor = self.seq + 1;
        if self.torn.get() {
            sub.pending += self.lost + 1;
            sub.lost += 1;
        } else {
            sub.received += 1;
        }
    }
}
