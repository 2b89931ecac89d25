//! How a receiver waits, and the parking protocol between a receiver and its sender.
//!
//! Two words in the segment: `parked` (written by the receiver: 1 while it is about to
//! sleep or sleeping) and `wake` (a sequence counter the sender bumps before a
//! [`futex(2)`] `FUTEX_WAKE`; the receiver sleeps with `FUTEX_WAIT` on it). It is Dekker's
//! pattern with sequentially consistent fences:
//!
//! - receiver: `parked = 1`; fence(SeqCst); `s = wake` (Acquire); check the ring again; if
//!   still empty, `FUTEX_WAIT(wake, s)`; `parked = 0`.
//! - sender: publish the message (Release); fence(SeqCst); if `parked != 0`: `wake += 1`
//!   (Release), `FUTEX_WAKE(wake, 1)`.
//!
//! The two fences are ordered one way or the other: either the receiver's second check sees
//! the message, or the sender sees `parked == 1`, bumps `wake` and wakes it; a bump that
//! lands before `FUTEX_WAIT` makes the wait return at once (`EAGAIN`). So no wake-up is lost,
//! and a sender whose receiver is not parked makes no system call.
//!
//! [`futex(2)`]: https://man7.org/linux/man-pages/man2/futex.2.html

use crate::error::{Error, Result};
use crate::sys::futex;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

/// How a receive waits for a message when the ring is empty.
///
/// Every mode honours a timeout, and every mode checks now and then whether the sender is
/// still alive ([`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html) with signal 0),
/// so a receiver never waits forever on a dead sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Spin on the ring's tail index: the lowest latency, one core busy while waiting.
    Poll,
    /// Sleep on a futex word in the segment ([`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html));
    /// the sender wakes the receiver only when it announced that it is parked.
    Block,
    /// Spin up to `spins` times, then block.
    Adaptive {
        /// How many polls of the ring before parking.
        spins: u32,
    },
}

impl Default for Wait {
    /// [`Wait::Adaptive`] with 4096 spins (a few microseconds).
    fn default() -> Wait {
        Wait::Adaptive { spins: 4096 }
    }
}

/// How long a parked receiver sleeps at most before it checks that the sender lives.
pub(crate) const LIVENESS_PERIOD: Duration = Duration::from_millis(50);
/// How many polls between two liveness and deadline checks while spinning.
pub(crate) const SPINS_PER_CHECK: u32 = 4096;

/// The time left until `deadline`, `None` for no deadline; `Some(ZERO)` once it passed.
pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// The pure atomic steps of the parking protocol (see the module docs), generic over the
/// word: the segment's words in shipped code, loom's atomics in `tests/loom_*.rs`
/// (through `shmkit::__loom` under `cfg(loom)`). Monomorphised, so the shipped code runs
/// exactly these loads, stores and fences.
pub(crate) mod steps {
    #![cfg_attr(not(loom), allow(unreachable_pub))]
    use crate::primitive::Word;
    use std::sync::atomic::Ordering;

    /// Receiver side: announces that it is about to park. Returns the `wake` value to
    /// sleep on; the caller must look at the ring again (after this call) before it sleeps.
    #[inline]
    pub fn announce<W: Word<Int = u32>>(parked: &W, wake: &W) -> u32 {
        parked.store(1, Ordering::Relaxed);
        // SeqCst fence: pairs with the fence in `bump`, after the sender published its
        // message (see the module docs): either our next look at the ring sees the
        // message, or the sender sees `parked == 1`.
        W::fence(Ordering::SeqCst);
        // Acquire: pairs with the Release bump in `bump`; if we see the bump, we see the
        // message published before it.
        wake.load(Ordering::Acquire)
    }

    /// Receiver side: no longer parked.
    #[inline]
    pub fn unannounce<W: Word<Int = u32>>(parked: &W) {
        // Relaxed: at worst the sender makes one needless wake-up call.
        parked.store(0, Ordering::Relaxed);
    }

    /// As [`announce`], for a queue whose consumers count themselves in `parked` (MPMC)
    /// instead of setting a flag.
    #[inline]
    pub fn announce_count<W: Word<Int = u32>>(parked: &W, wake: &W) -> u32 {
        parked.fetch_add(1, Ordering::Relaxed);
        // SeqCst fence: pairs with the fence in `bump` after a publish: either our next
        // look at the slot sees the message, or the producer sees parked != 0.
        W::fence(Ordering::SeqCst);
        // Acquire: pairs with the Release bump in `bump`.
        wake.load(Ordering::Acquire)
    }

    /// As [`unannounce`], for a count.
    #[inline]
    pub fn unannounce_count<W: Word<Int = u32>>(parked: &W) {
        // Relaxed: at worst a producer makes one needless wake-up call.
        parked.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sender side, after publishing a message with a Release store: whether a receiver
    /// is parked (or about to park); if so, `wake` is bumped and the caller must wake it
    /// (`FUTEX_WAKE`).
    #[inline]
    pub fn bump<W: Word<Int = u32>>(parked: &W, wake: &W) -> bool {
        // SeqCst fence: pairs with the fence in `announce` (see the module docs).
        W::fence(Ordering::SeqCst);
        if parked.load(Ordering::Relaxed) != 0 {
            // Release: the receiver that loads the new value with Acquire sees the message.
            wake.fetch_add(1, Ordering::Release);
            true
        } else {
            false
        }
    }
}

pub(crate) use steps::{announce, unannounce};

/// Receiver side: sleeps on `wake` while it still holds `seen`, at most `timeout`.
pub(crate) fn sleep(wake: &AtomicU32, seen: u32, timeout: Duration, context: String) -> Result<()> {
    match futex::wait(wake, seen, Some(timeout)) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw(), libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR) => Ok(()),
        Err(e) => Err(Error::sys("futex(FUTEX_WAIT)", context, e)),
    }
}

/// Sender side, after publishing a message with a Release store: wakes the receiver if it
/// is parked (or about to park): [`steps::bump`], then `FUTEX_WAKE` when it says so.
#[inline]
pub(crate) fn notify(parked: &AtomicU32, wake: &AtomicU32) {
    if steps::bump(parked, wake) {
        // A failed wake (it cannot fail for a mapped, aligned word) only costs the
        // receiver one LIVENESS_PERIOD: it re-checks the ring when its sleep times out.
        let _ = futex::wake(wake, 1);
    }
}

/// How many [`Checked::Again`] in a row one wait acts on at once, looking again without
/// parking or spinning first. Each `Again` is a repair of a slot that a dead peer left
/// claimed; a correct queue needs one per dead claim in front of the waiter, but scribbled
/// words can make every check look like one. So past this many in a row the wait goes on
/// as after [`Checked::Wait`] (it parks once, or spins [`SPINS_PER_CHECK`] looks, before
/// the next check) and counts from zero again; and every `Again` checks the deadline too.
/// 64 is [`mpmc::MAX_HANDLES`](super::mpmc::MAX_HANDLES): one repair per handle entry.
pub(crate) const MAX_AGAIN: u32 = 64;

/// What a receive loop does at each step; [`wait_for`] drives it as a [`Wait`] mode says.
/// The SPSC receiver, the MPMC consumer and the pub-sub subscriber implement it.
pub(crate) trait Waiter {
    /// What a successful look finds.
    type Found;
    /// Looks once, without waiting. It must return after a bounded amount of work whatever
    /// the segment holds (`Ok(None)` when it gave up for now).
    fn look(&mut self) -> Result<Option<Self::Found>>;
    /// The occasional checks (every [`SPINS_PER_CHECK`] polls while spinning, and before
    /// each park): whether the peer lives, whether the shared counters are consistent, and
    /// repairs of what a dead peer left (at most one per call).
    fn check(&mut self) -> Result<Checked<Self::Found>>;
    /// Announces that it parks, looks once more, sleeps at most `chunk` unless that look
    /// found something, and withdraws the announcement.
    fn park_once(&mut self, chunk: Duration) -> Result<Option<Self::Found>>;
    /// The error of a wait that ran out of time.
    fn expired(&self) -> Error;
}

/// The outcome of [`Waiter::check`].
pub(crate) enum Checked<F> {
    /// Found something after all.
    Found(F),
    /// Something changed (a repair): look again at once (at most [`MAX_AGAIN`] times in a
    /// row, and only before the deadline).
    Again,
    /// Nothing to report: go on waiting.
    Wait,
}

/// The end of every [`Waiter::check`] (SPSC receiver, MPMC consumer, pub-sub subscriber),
/// once the kind-specific checks passed: `dead` is `Some(pid)` when the peer (the sender,
/// every producer, the publisher) is dead. A dead peer publishes nothing more, so one more
/// look decides: what it finds, or `died(waiter, pid)` (the kind's `PeerDied`, or, for a
/// queue that still has messages in flight, [`Checked::Wait`]). A live peer: go on waiting.
#[inline]
pub(crate) fn after_death<W: Waiter>(
    waiter: &mut W,
    dead: Option<u32>,
    died: impl FnOnce(&mut W, u32) -> Result<Checked<W::Found>>,
) -> Result<Checked<W::Found>> {
    let Some(pid) = dead else {
        return Ok(Checked::Wait);
    };
    match waiter.look()? {
        Some(found) => Ok(Checked::Found(found)),
        None => died(waiter, pid),
    }
}

/// The middle of every [`Waiter::park_once`]: `look` is the look made after announcing
/// the park; when it found nothing, `sleep` (on the wake word, from the value read when
/// announcing). The caller withdraws its announcement after this, whatever it returned.
#[inline]
pub(crate) fn look_then_sleep<F>(
    look: Result<Option<F>>,
    sleep: impl FnOnce() -> Result<()>,
) -> Result<Option<F>> {
    match look {
        Ok(None) => sleep().map(|()| None),
        other => other,
    }
}

/// Waits as `mode` says until `waiter` finds something, a check fails, or `deadline`
/// passes: spins (looking each time; checking every [`SPINS_PER_CHECK`] looks), and in the
/// parking modes parks for at most [`LIVENESS_PERIOD`] at a time, checking before each park.
///
/// Every check is followed by a look at the deadline, whatever it returned, and a park
/// never sleeps past it, so the wait ends at most [`SPINS_PER_CHECK`] looks and one check
/// after its deadline (each look and each check is a bounded amount of work); and at most
/// [`MAX_AGAIN`] checks in a row skip the park (or the spins) that separates two checks.
pub(crate) fn wait_for<W: Waiter>(
    waiter: &mut W,
    mode: Wait,
    deadline: Option<Instant>,
) -> Result<W::Found> {
    let mut spins: u32 = 0;
    // Checks in a row that said `Again`.
    let mut again: u32 = 0;
    loop {
        if let Some(found) = waiter.look()? {
            return Ok(found);
        }
        let park = match mode {
            Wait::Poll => false,
            Wait::Block => true,
            Wait::Adaptive { spins: n } => spins >= n,
        };
        if !park {
            spins = spins.wrapping_add(1);
            crate::primitive::hint::spin_loop();
            if spins % SPINS_PER_CHECK != 0 && again == 0 {
                continue;
            }
        }
        let repaired = match waiter.check()? {
            Checked::Found(found) => return Ok(found),
            Checked::Again => true,
            Checked::Wait => false,
        };
        let left = remaining(deadline);
        if left == Some(Duration::ZERO) {
            return Err(waiter.expired());
        }
        if repaired && again < MAX_AGAIN {
            // Look again at once: the repair may have made the next message reachable.
            again += 1;
            continue;
        }
        again = 0;
        if park {
            let chunk = left.map_or(LIVENESS_PERIOD, |l| l.min(LIVENESS_PERIOD));
            if let Some(found) = waiter.park_once(chunk)? {
                return Ok(found);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A waiter that never finds anything and whose every check reports a repair, as a
    /// queue full of scribbled "dead claims" would; it records the checks between parks.
    /// Its 10 000th check fails (InvalidArgument), so that a wait loop that never parks
    /// and never looks at its deadline (the bug) ends the test instead of hanging it.
    #[derive(Default)]
    struct Repairing {
        checks: u32,
        total: u32,
        between_parks: Vec<u32>,
    }

    impl Waiter for Repairing {
        type Found = ();
        fn look(&mut self) -> Result<Option<()>> {
            Ok(None)
        }
        fn check(&mut self) -> Result<Checked<()>> {
            self.checks += 1;
            self.total += 1;
            if self.total == 10_000 {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "check",
                    String::new(),
                    "10 000 checks without a park or a look at the deadline",
                ));
            }
            Ok(Checked::Again)
        }
        fn park_once(&mut self, _chunk: Duration) -> Result<Option<()>> {
            self.between_parks.push(std::mem::take(&mut self.checks));
            if self.between_parks.len() == 3 {
                // Ends the (deadline-free) wait.
                return Err(Error::new(ErrorKind::Busy, "park", String::new(), "enough"));
            }
            Ok(None)
        }
        fn expired(&self) -> Error {
            Error::new(ErrorKind::TimedOut, "wait", String::new(), "expired")
        }
    }

    /// Issue 10: a check that always said `Again` kept the wait looping without ever
    /// looking at its deadline. Now a passed deadline ends the wait after the first check.
    #[test]
    fn wait_for_checks_the_deadline_after_a_repair() {
        for mode in [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 4 }] {
            let mut w = Repairing::default();
            let err = wait_for(&mut w, mode, Some(Instant::now())).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut, "{mode:?}: {err}");
            assert_eq!(w.total, 1, "{mode:?}: one check, then the deadline");
        }
    }

    /// Issue 10: repairs in a row are bounded: after MAX_AGAIN of them the wait parks (here
    /// without a deadline) before it checks again.
    #[test]
    fn wait_for_parks_after_max_again_repairs_in_a_row() {
        let mut w = Repairing::default();
        let err = wait_for(&mut w, Wait::Block, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
        assert_eq!(w.between_parks, [MAX_AGAIN + 1; 3]);
    }
}
