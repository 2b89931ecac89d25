//! The sending end of an SPSC channel: loans, commits and the copying send.

use super::steps::{self, Reservation};
use super::{
    context, corrupt, max_message, open, Ring, Words, MAX_INDEX, PARKED, RECEIVER_PID, RECORD,
    RING, SENDER_PID, WAKE,
};
use crate::channel::endpoint::{claim, dead_peer, peer_alive};
use crate::channel::error::TrySendError;
use crate::channel::span::Span;
use crate::channel::wait;
use crate::error::{Error, ErrorKind, Result};
use crate::region::{ReadWrite, Region};
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The longest sleep of a sender waiting for room ([`Sender::loan_timeout`]).
pub const SEND_BACKOFF_MAX: Duration = Duration::from_millis(1);

/// One step of a full-ring wait: spin, then yield, then sleep 1 µs, 2 µs, … up to
/// [`SEND_BACKOFF_MAX`], never past `deadline`.
fn backoff(round: u32, deadline: Option<Instant>) {
    const SPIN: u32 = 64;
    const YIELD: u32 = SPIN + 16;
    if round < SPIN {
        crate::primitive::hint::spin_loop();
    } else if round < YIELD {
        crate::primitive::thread::yield_now();
    } else {
        let exp = (round - YIELD).min(10);
        let mut nap = Duration::from_micros(1 << exp).min(SEND_BACKOFF_MAX);
        if let Some(d) = deadline {
            nap = nap.min(d.saturating_duration_since(Instant::now()));
        }
        std::thread::sleep(nap);
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

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Sender<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("offset", &self.w.offset)
            .field("capacity", &self.w.capacity)
            .field("tail", &self.tail)
            .finish()
    }
}

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
        let r = steps::reserve(cap, self.tail, len);
        match steps::room(&self.w, self.tail, r.new_tail, &mut self.head_cache) {
            Ok(true) => {}
            Ok(false) => {
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
            Err(head) => {
                return Err(corrupt(
                    CALL,
                    self.w.offset,
                    format!(
                        "the receiver's index {head} is out of range (tail {}, previously {}, capacity {cap})",
                        self.tail, self.head_cache
                    ),
                ));
            }
        }
        Ok(Loan {
            sender: self,
            r,
            len,
        })
    }

    /// As [`loan`](Sender::loan), waiting for room while the ring is full, up to `timeout`
    /// (`None`: as long as it takes).
    ///
    /// A waiting sender polls the receiver's index with a backoff: it spins briefly, then
    /// yields, then sleeps for doubling periods up to [`SEND_BACKOFF_MAX`] (1 ms), checking
    /// each time whether the receiver is alive. The receiver does not signal released space:
    /// its release stays a single store, with no fence and no system call, which keeps the
    /// common case (a ring with room) fast. So a sender that slept learns of freed room up
    /// to 1 ms late, and a full ring costs the waiting sender well under 1 % of a core.
    ///
    /// # Errors
    /// As [`loan`](Sender::loan) but for [`ErrorKind::WouldBlock`];
    /// [`ErrorKind::TimedOut`] when there was no room in time; [`ErrorKind::PeerDied`] when
    /// the ring is full and the receiver is dead.
    pub fn loan_timeout(&mut self, len: usize, timeout: Option<Duration>) -> Result<Loan<'_, R>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut round: u32 = 0;
        loop {
            // `loan` borrows self mutably for the result's lifetime; test for room first
            // with a loan that is dropped at once (a dropped loan writes nothing).
            match self.loan(len) {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Err(Error::new(
                        ErrorKind::TimedOut,
                        "Sender::loan_timeout",
                        context(self.w.offset),
                        "the channel stayed full",
                    ));
                }
            }
            backoff(round, deadline);
            round = round.saturating_add(1);
        }
        self.loan(len)
    }

    /// Copies `msg` into the ring and commits it, waiting for room while the ring is full
    /// (see [`loan_timeout`](Sender::loan_timeout) for how it waits).
    ///
    /// # Errors
    /// As [`loan_timeout`](Sender::loan_timeout) without a timeout.
    pub fn send(&mut self, msg: &[u8]) -> Result<()> {
        let loan = self.loan_timeout(msg.len(), None)?;
        loan.write_at(0, msg)?;
        loan.commit();
        Ok(())
    }

    /// As [`send`](Sender::send), giving up after `timeout` ([`ErrorKind::TimedOut`]).
    ///
    /// # Errors
    /// As [`loan_timeout`](Sender::loan_timeout).
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<()> {
        let loan = self.loan_timeout(msg.len(), Some(timeout))?;
        loan.write_at(0, msg)?;
        loan.commit();
        Ok(())
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
    /// Where the records go.
    r: Reservation,
    len: usize,
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

    /// The message's bytes in the region.
    #[inline]
    fn span(&self) -> Span {
        Span {
            at: self.sender.w.offset + RING + self.r.record + RECORD,
            len: self.len,
        }
    }

    /// Copies `bytes` into the message at `offset` (byte-wise atomic stores).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] when the bytes reach past the message's length.
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        self.span()
            .write_at(&self.sender.w.region, offset, bytes, "Loan::write_at")
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
        unsafe { self.span().as_mut_slice(&self.sender.w.region) }
    }

    /// Publishes the message: the receiver can see it from now on; wakes the receiver if it
    /// is parked.
    pub fn commit(self) {
        let w = &self.sender.w;
        steps::commit(w, &self.r, self.len);
        self.sender.tail = self.r.new_tail;
        wait::notify(w.u32(PARKED), w.u32(WAKE));
    }
}
