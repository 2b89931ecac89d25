//! The producing side of the MPMC queue: claim a position, write the slot, publish.

use super::steps::{self, Bad, Cells};
use super::{context, corrupt, Queue, TrySendError, PRODUCER};
use crate::channel::span::Span;
use crate::channel::wait;
use crate::error::{Error, ErrorKind, Result};
use crate::region::{ReadWrite, Region};
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How many polls of a full queue a producer spins through before it checks anything.
const SPIN_POLLS: u64 = 64;
/// How many polls of a full queue between two repairs, liveness and deadline checks, once
/// the first [`SPIN_POLLS`] polls (spinning) found it full; from then on each poll yields
/// the CPU.
const CHECK_EVERY: u32 = 16;

/// A producing handle on an MPMC queue. Any number of producers, in any processes, may be
/// open at once (up to [`MAX_HANDLES`](super::MAX_HANDLES) handles in all); each takes an
/// entry of the queue's handle table, freed on drop.
pub struct Producer<R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    q: Queue<R>,
    entry: usize,
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Producer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("offset", &self.q.offset)
            .field("capacity", &self.q.capacity)
            .field("message_size", &self.q.message_size)
            .finish()
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Producer<R> {
    /// Opens the queue at `offset` of `region` as a producer.
    ///
    /// # Errors
    /// The header's errors ([`ErrorKind::NotInitialised`], [`ErrorKind::LayoutMismatch`],
    /// [`ErrorKind::ForeignNamespace`], ...); [`ErrorKind::LimitExceeded`] when the handle
    /// table is full of live handles.
    pub fn open_in(region: R, offset: usize) -> Result<Producer<R>> {
        const CALL: &str = "Producer::open_in";
        let q = Queue::open(region, offset, CALL)?;
        let entry = q.register(PRODUCER, CALL)?;
        Ok(Producer { q, entry })
    }

    /// How many messages the queue holds.
    pub fn capacity(&self) -> usize {
        self.q.capacity
    }

    /// The largest message the queue takes.
    pub fn message_size(&self) -> usize {
        self.q.message_size
    }

    /// Claims the next position ([`steps::claim`]): `Ok(None)` when the queue is full, or
    /// when [`MAX_STEPS`](super::steps::MAX_STEPS) claims in a row were lost to other producers.
    #[inline]
    fn claim(&self, call: &'static str) -> Result<Option<u64>> {
        steps::claim(&self.q, self.entry).map_err(|bad| self.q.bad(call, bad))
    }

    fn too_big(&self, len: usize, call: &'static str) -> Error {
        Error::new(
            ErrorKind::TooBig,
            call,
            context(self.q.offset),
            format!(
                "a message of {len} bytes; this queue takes at most {}",
                self.q.message_size
            ),
        )
    }

    /// Claims a slot for a message of `len` bytes and returns it to be written in place;
    /// [`Loan::commit`] publishes it. Dropping the loan without committing publishes a skip
    /// that consumers pass over (the position is used either way).
    ///
    /// # Errors
    /// [`ErrorKind::TooBig`] when `len > message_size()`; [`ErrorKind::WouldBlock`] when the
    /// queue is full; [`ErrorKind::Corrupt`] for an impossible position or sequence word.
    pub fn loan(&mut self, len: usize) -> Result<Loan<'_, R>> {
        const CALL: &str = "Producer::loan";
        if len > self.q.message_size {
            return Err(self.too_big(len, CALL));
        }
        match self.claim(CALL)? {
            Some(pos) => Ok(Loan {
                producer: self,
                pos,
                len,
                done: false,
            }),
            None => Err(Error::new(
                ErrorKind::WouldBlock,
                CALL,
                context(self.q.offset),
                "the queue is full",
            )),
        }
    }

    /// Copies `msg` into the next slot and publishes it. A full queue hands it back.
    ///
    /// # Errors
    /// [`TrySendError::Full`] when the queue is full now; [`TrySendError::Failed`] with the
    /// errors of [`loan`](Producer::loan) and [`Loan::commit`] otherwise.
    pub fn try_send<'m>(&mut self, msg: &'m [u8]) -> std::result::Result<(), TrySendError<'m>> {
        match self.loan(msg.len()) {
            Ok(loan) => match loan.write_at(0, msg).and_then(|()| loan.commit()) {
                Ok(()) => Ok(()),
                Err(e) => Err(TrySendError::Failed(msg, e)),
            },
            Err(e) if e.kind() == ErrorKind::WouldBlock => Err(TrySendError::Full(msg)),
            Err(e) => Err(TrySendError::Failed(msg, e)),
        }
    }

    /// As [`try_send`](Producer::try_send), waiting while the queue is full: it polls
    /// 64 times, then yields the CPU between polls, and every 16 polls checks the positions
    /// against each other, repairs a slot left by a dead consumer (see the module docs) and
    /// checks whether any consumer lives. After a repair it checks again at the next poll,
    /// up to 64 repairs in a row.
    ///
    /// # Errors
    /// As [`try_send`](Producer::try_send) (never [`TrySendError::Full`]);
    /// [`ErrorKind::PeerDied`] when the queue is full and every registered consumer is dead;
    /// [`ErrorKind::Corrupt`] when the positions are further apart than the capacity.
    pub fn send<'m>(&mut self, msg: &'m [u8]) -> std::result::Result<(), TrySendError<'m>> {
        self.send_until(msg, None)
    }

    /// As [`send`](Producer::send), giving up after `timeout` ([`ErrorKind::TimedOut`]).
    ///
    /// # Errors
    /// As [`send`](Producer::send), and [`ErrorKind::TimedOut`].
    pub fn send_timeout<'m>(
        &mut self,
        msg: &'m [u8],
        timeout: Duration,
    ) -> std::result::Result<(), TrySendError<'m>> {
        self.send_until(msg, Some(Instant::now() + timeout))
    }

    /// The wait loop of [`send`](Producer::send): every check, whatever it finds, is
    /// followed by a look at the deadline, so it returns at most one check and
    /// [`CHECK_EVERY`] polls after `deadline`.
    fn send_until<'m>(
        &mut self,
        msg: &'m [u8],
        deadline: Option<Instant>,
    ) -> std::result::Result<(), TrySendError<'m>> {
        const CALL: &str = "Producer::send";
        // u64: never wraps back into the spinning phase.
        let mut polls: u64 = 0;
        // Checks in a row that repaired a slot.
        let mut again: u32 = 0;
        loop {
            match self.try_send(msg) {
                Err(TrySendError::Full(_)) => {}
                other => return other,
            }
            polls += 1;
            if polls < SPIN_POLLS {
                crate::primitive::hint::spin_loop();
                continue;
            }
            crate::primitive::thread::yield_now();
            if again == 0 && polls % u64::from(CHECK_EVERY) != 0 {
                continue;
            }
            let fail = |e| Err(TrySendError::Failed(msg, e));
            let repaired = match self.q.recover(false, CALL) {
                Ok(repaired) => repaired,
                Err(e) => return fail(e),
            };
            if !repaired {
                if let Some(pid) = self.q.all_dead(super::CONSUMER) {
                    match self.try_send(msg) {
                        Err(TrySendError::Full(_)) => {}
                        other => return other,
                    }
                    return fail(Error::new(
                        ErrorKind::PeerDied,
                        CALL,
                        context(self.q.offset),
                        format!("the queue is full and its consumers are dead (pid {pid}, ...)"),
                    ));
                }
            }
            if wait::remaining(deadline) == Some(Duration::ZERO) {
                return fail(Error::new(
                    ErrorKind::TimedOut,
                    "Producer::send_timeout",
                    context(self.q.offset),
                    "the queue stayed full",
                ));
            }
            // After a repair, check again at the next poll, up to MAX_AGAIN times in a row;
            // then back to one check every CHECK_EVERY polls.
            again = if repaired && again < wait::MAX_AGAIN {
                again + 1
            } else {
                0
            };
        }
    }

    /// Whether any consumer is alive: `None` when no consumer is registered, else whether
    /// one of their processes exists ([`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html), signal 0).
    pub fn consumers_alive(&self) -> Option<bool> {
        let registered = (0..super::MAX_HANDLES)
            .any(|i| (self.q.entry(i).0.load(Ordering::Relaxed) >> 32) as u32 == super::CONSUMER);
        registered.then(|| self.q.all_dead(super::CONSUMER).is_none())
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Producer<R> {
    fn drop(&mut self) {
        self.q.unregister(self.entry, PRODUCER);
    }
}

/// A claimed slot, loaned by [`Producer::loan`]. Write it with [`write_at`](Loan::write_at),
/// publish it with [`commit`](Loan::commit); dropping it publishes a skip instead.
pub struct Loan<'a, R: Deref<Target = Region<ReadWrite>>> {
    producer: &'a mut Producer<R>,
    pos: u64,
    len: usize,
    done: bool,
}

impl<R: Deref<Target = Region<ReadWrite>>> fmt::Debug for Loan<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loan")
            .field("pos", &self.pos)
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

    /// Copies `bytes` into the message at `offset` (byte-wise atomic stores).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfBounds`] when the bytes reach past the message's length.
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        let q = &self.producer.q;
        let span = Span {
            at: q.data(self.pos),
            len: self.len,
        };
        span.write_at(&q.region, offset, bytes, "Loan::write_at")
    }

    /// Moves the slot from free to published (`skip` for no message, [`steps::publish`])
    /// and wakes a parked consumer.
    fn publish(&mut self, skip: bool) -> Result<()> {
        self.done = true;
        let q = &self.producer.q;
        let result = steps::publish(q, self.pos, skip);
        wait::notify(q.parked(), q.wake());
        result.map_err(|bad| match bad {
            Bad::Taken { pos, found } => corrupt(
                "Loan::commit",
                q.offset,
                format!(
                    "the slot of position {pos} was taken while it was being written (sequence word {found:#x}); the message was not sent"
                ),
            ),
            other => q.bad("Loan::commit", other),
        })
    }

    /// Publishes the message: a consumer can receive it from now on; wakes one if any is
    /// parked.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when the slot was repaired as a dead producer's while it was
    /// being written (only a scribbled handle table makes a live producer look dead): the
    /// message was not sent.
    pub fn commit(mut self) -> Result<()> {
        let q = &self.producer.q;
        // Relaxed: published by the Release CAS in publish.
        q.len(self.pos).store(self.len as u32, Ordering::Relaxed);
        self.publish(false)
    }
}

impl<R: Deref<Target = Region<ReadWrite>>> Drop for Loan<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.publish(true);
        }
    }
}
