//! `SeqLock` with real processes: the writer is killed mid-write 1000 times; readers never
//! return a torn value (the payload carries its own checksum) and never hang.

mod common;
mod sync_probe;

use common::ProbeOptions;
use shmkit::sync::SeqLock;
use shmkit::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use sync_probe::{intact, payload, Payload, SyncProbe};

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<SyncProbe>();
}

/// Like `common::wait_until`, but polls in bursts of spins before yielding: the state
/// awaited (a write in progress) lasts microseconds, shorter than a time slice.
fn spin_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    loop {
        for _ in 0..10_000 {
            if cond() {
                return;
            }
            std::hint::spin_loop();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::yield_now();
    }
}

/// Long enough that a working reader never hits it; a hang fails instead of blocking CI.
const NO_HANG: Duration = Duration::from_secs(30);

#[test]
fn write_read_try_read_and_a_dead_writer_in_one_process() {
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    let lock = SeqLock::create_in(map.region(), 0, [1u64, 2, 3]).unwrap();
    assert_eq!(lock.read().unwrap(), [1, 2, 3]);
    lock.write(&[4, 5, 6]).unwrap();
    assert_eq!(lock.try_read().unwrap(), [4, 5, 6]);
    let other = SeqLock::<[u64; 3], _>::open_in(map.region(), 0).unwrap();
    assert_eq!(other.read_timeout(NO_HANG).unwrap(), [4, 5, 6]);
    assert_eq!(
        SeqLock::<[u64; 4], _>::open_in(map.region(), 0)
            .unwrap_err()
            .kind(),
        ErrorKind::LayoutMismatch
    );
    // A writer that died mid-write leaves `seq` odd with the mutex free.
    let seq = map.atomic_u32(128).unwrap();
    seq.fetch_add(1, Ordering::SeqCst);
    assert_eq!(lock.try_read().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(lock.read().unwrap_err().kind(), ErrorKind::WriterDied);
    assert_eq!(
        lock.read_timeout(NO_HANG).unwrap_err().kind(),
        ErrorKind::WriterDied
    );
    // The next write repairs it.
    lock.write(&[7, 8, 9]).unwrap();
    assert_eq!(seq.load(Ordering::SeqCst) % 2, 0);
    assert_eq!(lock.read().unwrap(), [7, 8, 9]);
}

#[test]
fn readers_in_threads_never_see_a_torn_value() {
    let seg = common::private_segment(16384);
    let map = seg.attach().unwrap();
    let lock = SeqLock::<Payload, _>::create_in(map.region(), 0, payload(0)).unwrap();
    let done = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut last = 0;
                while !done.load(Ordering::Relaxed) {
                    let v = lock.read_timeout(NO_HANG).unwrap();
                    assert!(intact(&v), "torn read");
                    assert!(v[0] >= last, "went back in time");
                    last = v[0];
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for n in 1..=20_000 {
            lock.write(&payload(n)).unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    assert_eq!(lock.read().unwrap()[0], 20_000);
    assert!(reads.load(Ordering::Relaxed) > 0);
}

#[test]
fn writer_killed_mid_write_1000_times() {
    // Writers are killed while `seq` is odd, but a kill takes effect a little later, so
    // some land between writes: go on until 1000 landed mid-write.
    const MID_WRITE_KILLS: u64 = 1000;
    const MAX_ROUNDS: u64 = 5000;
    let seg = common::keyed_segment(16384, 0o600);
    let map = seg.attach().unwrap();
    let lock = SeqLock::<Payload, _>::create_in(map.region(), 0, payload(0)).unwrap();
    let key = seg.key();
    let round_over = AtomicBool::new(true);
    let (mut torn, mut writer_died_seen) = (0u64, 0u64);
    let mut died_mid_write = 0u64;
    let mut intact_after_kill = 0u64;
    let mut odd_after_kill = 0u64;
    std::thread::scope(|s| {
        // A second reader, reading while each writer lives and dies: told by a message when
        // a round starts, it makes up to 16 reads, stopping early when it sees the writer
        // died or the round ends (it stays blocked meanwhile, so that spawning the next
        // writer has the CPU).
        let (go, rounds) = std::sync::mpsc::channel::<()>();
        let round_over = &round_over;
        let lock = &lock;
        let background = s.spawn(move || {
            let (mut ok, mut died) = (0u64, 0u64);
            for () in rounds {
                for _ in 0..16 {
                    if round_over.load(Ordering::SeqCst) {
                        break;
                    }
                    match lock.read_timeout(NO_HANG) {
                        Ok(v) => {
                            assert!(intact(&v), "background reader: torn value {}", v[0]);
                            ok += 1;
                        }
                        Err(e) if e.kind() == ErrorKind::WriterDied => {
                            died += 1;
                            break;
                        }
                        Err(e) => panic!("background reader: {e}"),
                    }
                }
            }
            (ok, died)
        });
        let mut rounds_run = 0;
        for round in 0..MAX_ROUNDS {
            if died_mid_write == MID_WRITE_KILLS {
                break;
            }
            rounds_run += 1;
            let first = (round + 1) << 32;
            let mut writer =
                common::spawn_probe(&SyncProbe::SeqWrite { key, first }, ProbeOptions::default());
            assert_eq!(writer.next_result(), "writing", "round {round}");
            round_over.store(false, Ordering::SeqCst);
            go.send(()).unwrap();
            // Let it get going (a few more writes), whatever the scheduler does.
            let seq = map.atomic_u32(128).unwrap();
            let target = seq
                .load(Ordering::SeqCst)
                .wrapping_add(2 + 2 * (common::random_u64() % 8) as u32);
            spin_until("the writer to write", || {
                seq.load(Ordering::SeqCst).wrapping_sub(target) < 1 << 31
            });
            // Read while it writes, a random number of times, then kill it.
            for _ in 0..common::random_u64() % 4 {
                let v = lock
                    .read_timeout(NO_HANG)
                    .expect("a live writer never fails a read");
                if !intact(&v) {
                    torn += 1;
                }
                assert!(
                    v[0] >= first,
                    "round {round}: the live writer's first value is gone"
                );
            }
            // Kill it mid-write: once `seq` is odd, after a random number of spins (a write
            // takes microseconds, so some kills still land between writes).
            spin_until("the writer to be mid-write", || {
                seq.load(Ordering::SeqCst) & 1 == 1
            });
            for _ in 0..common::random_u64() % 64 {
                std::hint::spin_loop();
            }
            writer.kill();
            if map.load_u32(128, Ordering::SeqCst).unwrap() & 1 == 1 {
                odd_after_kill += 1;
            }
            match lock.read_timeout(NO_HANG) {
                Ok(v) => {
                    if !intact(&v) {
                        torn += 1;
                    }
                    intact_after_kill += 1;
                }
                Err(e) if e.kind() == ErrorKind::WriterDied => {
                    died_mid_write += 1;
                    writer_died_seen += 1;
                    // Every reader keeps getting it until the next write.
                    assert_eq!(
                        lock.read().unwrap_err().kind(),
                        ErrorKind::WriterDied,
                        "round {round}"
                    );
                }
                Err(e) => panic!("round {round}: {e}"),
            }
            round_over.store(true, Ordering::SeqCst);
        }
        drop(go);
        let (ok, died) = background.join().unwrap();
        eprintln!(
            "seqlock: {rounds_run} writers killed ({odd_after_kill} with seq odd): {died_mid_write} mid-write (readers got WriterDied), {intact_after_kill} between writes; {torn} torn values returned; background reader: {ok} reads, {died} WriterDied",
        );
    });
    assert_eq!(torn, 0);
    assert_eq!(died_mid_write, MID_WRITE_KILLS);
    assert_eq!(odd_after_kill, died_mid_write);
    assert_eq!(died_mid_write, writer_died_seen);
    // A writer in this process repairs whatever the last one left.
    lock.write(&payload(1)).unwrap();
    assert!(intact(&lock.read().unwrap()));
}

/// A writer gone without the kernel marking its writer mutex (its lock word still names
/// it: a peer broke its robust list, or wrote the word) while `seq` is odd. Readers look at
/// the writer mutex when `seq` stays odd; they used to find it busy for ever (a lock word
/// naming a thread counts as held) and time out. Now they check that the named thread
/// exists, find it gone, and report `WriterDied`; the next write repairs the value.
#[test]
fn a_writer_that_vanished_unmarked_is_writer_died_not_a_wait() {
    let seg = common::private_segment(4096);
    let map = seg.attach().unwrap();
    let lock = SeqLock::create_in(map.region(), 0, 5u64).unwrap();
    let gone = loop {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        if shmkit_os::process_exists(pid as i32) == Some(false) {
            break pid;
        }
    };
    // The writer mutex is at 64, `seq` at 128: a write in progress by a thread that is gone.
    map.write_at(64, &gone.to_ne_bytes()).unwrap();
    map.write_at(128, &1u32.to_ne_bytes()).unwrap();
    assert_eq!(
        lock.read_timeout(NO_HANG).unwrap_err().kind(),
        ErrorKind::WriterDied
    );
    lock.write(&6).unwrap();
    assert_eq!(lock.read().unwrap(), 6);
}
