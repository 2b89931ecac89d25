//! The scribbler: the hostile peer.

use super::*;

/// Rebuilds the structure as a peer could, while the victims call: a channel is laid out
/// anew (zeroed, then `create_in`); a sync structure gets its header, state and
/// `pthread_mutex_t` words (not `__list`: see `Kind::restore_ranges`) back from `snapshot`,
/// and its futex words a wake-up.
pub(crate) fn rebuild(kind: Kind, region: &Region, snapshot: &[u8]) {
    restore_sync(kind, region, snapshot, kind.restore_ranges());
}

/// The watchdog's rescue of a victim stuck in an untimed wait after the scribbler stopped
/// (see `Kind::rescue_ranges`).
pub(crate) fn rescue(kind: Kind, region: &Region, snapshot: &[u8]) {
    restore_sync(kind, region, snapshot, kind.rescue_ranges());
}

pub(crate) fn restore_sync(
    kind: Kind,
    region: &Region,
    snapshot: &[u8],
    ranges: &[(usize, usize)],
) {
    match kind {
        Kind::Spsc | Kind::Mpmc | Kind::PubSub => {
            let (start, end) = kind.extent();
            region.fill(start, end - start, 0).unwrap();
            let _ = kind.lay_out_channel(region);
        }
        Kind::Named => {
            region.write_at(0, &snapshot[..NAMED_CHANNEL]).unwrap();
            let (_, end) = kind.extent();
            region.fill(NAMED_CHANNEL, end - NAMED_CHANNEL, 0).unwrap();
            let _ = kind.lay_out_channel(region);
        }
        Kind::Mutex | Kind::Condvar | Kind::SeqLock => {
            for &(start, end) in ranges {
                region.write_at(start, &snapshot[start..end]).unwrap();
            }
            let (locks, seqs) = kind.futex_words();
            for &at in seqs {
                region
                    .atomic_u32(at)
                    .unwrap()
                    .fetch_add(1, Ordering::SeqCst);
                futex_wake_all(region.atomic_u32(at).unwrap());
            }
            for &at in locks {
                futex_wake_all(region.atomic_u32(at).unwrap());
            }
        }
    }
}

/// The victims' operation counts now.
pub(crate) fn counts(board: &Board, victims: usize) -> Vec<u64> {
    (0..victims)
        .map(|i| board.get(FIRST_VICTIM + i, OPS))
        .collect()
}

/// Whether victim `i` is gone (exited or killed) or inside a call that waits without a
/// timeout (which a hostile value may legitimately keep waiting).
pub(crate) fn excused(board: &Board, i: usize) -> bool {
    let slot = FIRST_VICTIM + i;
    board.get(slot, GONE) != 0
        || (board.get(slot, START) != 0 && board.get(slot, TIMEOUT) == UNTIMED)
}

/// After a write: waits (yielding, never sleeping) until every victim that is still
/// there completed `n` calls more than `base` (`n = 2`: one whole call made with the
/// value in place), or is in an untimed wait. Gives up after `limit`; false then.
pub(crate) fn settle(board: &Board, base: &[u64], n: u64, limit: Duration) -> bool {
    settle_only(board, base, n, limit, None)
}

/// As [`settle`], for victim `only` alone if given.
pub(crate) fn settle_only(
    board: &Board,
    base: &[u64],
    n: u64,
    limit: Duration,
    only: Option<usize>,
) -> bool {
    let t0 = Instant::now();
    loop {
        let now = counts(board, base.len());
        let waited = |i: usize| only.is_none_or(|o| o == i);
        if (0..base.len()).all(|i| !waited(i) || now[i] >= base[i] + n || excused(board, i)) {
            return true;
        }
        if t0.elapsed() > limit || board.stopped() {
            return false;
        }
        std::thread::yield_now();
    }
}

/// After a write: waits until the victims together completed `n` more calls.
pub(crate) fn progress(board: &Board, base: &[u64], n: u64) -> bool {
    let t0 = Instant::now();
    let limit = scaled(PROGRESS_WAIT);
    let start: u64 = base.iter().sum();
    loop {
        let now: u64 = counts(board, base.len()).iter().sum();
        if now >= start + n || (0..base.len()).all(|i| excused(board, i)) {
            return true;
        }
        if t0.elapsed() > limit || board.stopped() {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Wakes every waiter on the structure's lock words, as a peer that unlocked would.
fn wake_locks(kind: Kind, region: &Region) {
    for &at in kind.futex_words().0 {
        futex_wake_all(region.atomic_u32(at).unwrap());
    }
}

/// The scribbler process: writes hostile values into every word of the `kind` structure in
/// segment `segment` while the victims (on the board in `board`) call; returns its report.
pub(crate) fn scribbler_main(kind: Kind, segment: ShmId, board: ShmId, seed: u64) -> String {
    let map = attach_id(segment);
    let board = Board {
        map: attach_id(board),
    };
    let mut rng = Rng(seed | 1);
    let victims = kind.roles().len();
    let region = map.region();
    let snapshot = region.read_vec(0, region.len()).unwrap();
    let pids = Pids::gather(&board, victims);
    board.set(SCRIBBLER, PID, u64::from(std::process::id()));
    board.set(SCRIBBLER, TID, u64::from(gettid()));
    let valgrind = under_valgrind();
    let (mut table_writes, mut random_writes, mut stalls, mut rebuilds) = (0u64, 0u64, 0u64, 0u64);
    let mut fewest = usize::MAX;
    let mut words_done = 0usize;
    let (mut table_time, mut random_time) = (Duration::ZERO, Duration::ZERO);
    // Longer than two correct calls (a named open waits up to 2 s for a channel whose
    // state says "initialising"), and than the watchdog's timeout + BOUND.
    let longest = if kind == Kind::Named {
        2 * NAMED_READY_WAIT
    } else {
        TIMEOUTS[TIMEOUTS.len() - 1]
    };
    let settle_limit = scaled(2 * longest + BOUND + Duration::from_secs(1));
    'rounds: for _ in 0..rounds() {
        let phase = Instant::now();
        let count = words(kind, region).len();
        let rebuild_now = |rebuilds: &mut u64| {
            rebuild(kind, region, &snapshot);
            *rebuilds += 1;
        };
        for i in 0..count {
            rebuild_now(&mut rebuilds);
            // Let the victims use the rebuilt structure before the next word.
            if !progress(&board, &counts(&board, victims), 2) {
                stalls += 1;
            }
            let w = words(kind, region).swap_remove(i);
            let cur = load(region, w.at, w.size);
            let mut values = hostile_values(&w, cur, &pids);
            if valgrind {
                // A random sample, and always 0 and all ones.
                for j in 0..VALUES_PER_WORD_VALGRIND.min(values.len()) {
                    let k = j + rng.below(values.len() - j);
                    values.swap(j, k);
                }
                values.truncate(VALUES_PER_WORD_VALGRIND);
                let ones = if w.size == 4 { 0xffff_ffff } else { u64::MAX };
                for x in [0, ones] {
                    if x != cur && !values.contains(&x) {
                        values.push(x);
                    }
                }
            }
            fewest = fewest.min(values.len());
            for v in values {
                if board.stopped() {
                    break 'rounds;
                }
                // Mostly every victim makes a whole call with the value in place (a call
                // that waits past its deadline keeps us here until the watchdog sees it);
                // one value in four meets one victim alone for many calls (the others
                // pause between calls), so that a queue drains or fills with it in place
                // and no other endpoint's calls cut a wait short.
                let solo = (rng.below(4) == 0).then(|| rng.below(victims));
                if let Some(i) = solo {
                    board.set(CONTROL, SOLO, (FIRST_VICTIM + i) as u64);
                }
                let base = counts(&board, victims);
                board.note(&w.name, v);
                let old = load(region, w.at, w.size);
                store(region, w.at, w.size, v);
                table_writes += 1;
                let (n, only) = match solo {
                    Some(i) => (16, Some(i)),
                    None => (2, None),
                };
                if !settle_only(&board, &base, n, settle_limit, only) {
                    stalls += 1;
                }
                board.set(CONTROL, SOLO, 0);
                if rng.below(8) != 0 {
                    restore(region, w.at, w.size, v, old);
                    wake_locks(kind, region);
                }
            }
            words_done += 1;
        }
        table_time += phase.elapsed();
        let phase = Instant::now();
        let (start, end) = kind.extent();
        let writes = if valgrind {
            RANDOM_WRITES_VALGRIND
        } else {
            RANDOM_WRITES
        };
        for j in 0..writes {
            if board.stopped() {
                break 'rounds;
            }
            if j % 64 == 0 {
                rebuild_now(&mut rebuilds);
            }
            let r = rng.next();
            let len = [8, 4, 1 + rng.below(8)][rng.below(3)];
            let mut at = start + rng.below(end - start - 8);
            match rng.below(3) {
                0 => at &= !7,
                1 => at &= !3,
                _ => {} // unaligned
            }
            let bytes = if r & 1 == 0 {
                r.to_ne_bytes()
            } else {
                // Small numbers pass more checks than wild ones.
                ((r >> 8) % 4096).to_ne_bytes()
            };
            let base = counts(&board, victims);
            board.note(&format!("{len} random bytes at {at}"), r);
            let old = region.read_vec(at, len).unwrap();
            region.write_at(at, &bytes[..len]).unwrap();
            random_writes += 1;
            let settled = if j % 32 == 0 {
                settle(&board, &base, 2, settle_limit)
            } else {
                progress(&board, &base, 1)
            };
            if !settled {
                stalls += 1;
            }
            // Half the time, the old bytes go back.
            if rng.below(2) == 0 {
                region.write_at(at, &old).unwrap();
                wake_locks(kind, region);
            }
        }
        random_time += phase.elapsed();
    }
    format!(
        "words={words_done} table_writes={table_writes} fewest_values={fewest} random_writes={random_writes} rebuilds={rebuilds} stalls={stalls} table_ms={} random_ms={}",
        table_time.as_millis(),
        random_time.as_millis()
    )
}
