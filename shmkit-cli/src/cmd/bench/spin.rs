//! `spin_limit`: the hardware limit. The parent stores a number in the ping word, the
//! worker sees it and stores it in the pong word, the parent sees that: two cache-line
//! transfers per round trip and nothing else.

use super::super::Result;
use super::control::{word, PING, PONG};
use super::job::{timed, Job};
use super::side::Side;
use std::sync::atomic::Ordering;

/// The parent's side: `job.count` pings, each timed until its pong.
///
/// # Errors
/// The worker exited.
pub(crate) fn parent(side: &mut Side<'_>, job: &Job, samples: &mut Vec<u64>) -> Result<()> {
    let (ping, pong) = (word(side.region, PING)?, word(side.region, PONG)?);
    // Only this process writes ping: continue from its value.
    let mut n = ping.load(Ordering::Relaxed);
    let spinner = side.spinner.clone();
    timed(job.count, samples, || {
        n = n.wrapping_add(1);
        // Release/Acquire: the pong the worker stores (Release) after its Acquire load of
        // this ping is what ends the round trip.
        ping.store(n, Ordering::Release);
        let mut spins = 0;
        while pong.load(Ordering::Acquire) != n {
            spinner.relax(&mut spins)?;
        }
        Ok(())
    })
}

/// The worker's side: answers `job.count` pings.
///
/// # Errors
/// None in practice (the region's errors).
pub(crate) fn worker(side: &mut Side<'_>, job: &Job) -> Result<()> {
    let (ping, pong) = (word(side.region, PING)?, word(side.region, PONG)?);
    // Only this side writes pong, and it always holds the last ping answered: the next
    // ping is one more (the parent waits for each pong before its next ping).
    let mut last = pong.load(Ordering::Relaxed);
    let mut spins = 0;
    for _ in 0..job.count {
        let want = last.wrapping_add(1);
        // Acquire: pairs with the parent's Release store of ping.
        while ping.load(Ordering::Acquire) != want {
            side.spinner.relax(&mut spins)?;
        }
        pong.store(want, Ordering::Release);
        last = want;
    }
    Ok(())
}
