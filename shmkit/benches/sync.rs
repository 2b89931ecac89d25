//! `sync` against the bare mechanisms it is built on, measured in the same run: rounds
//! alternate the order (A B, then B A, …) and the result is the median of the per-round
//! ratios.
//!
//! - uncontended `RobustMutex` lock+unlock vs a bare `pthread_mutex_t` with the same
//!   attributes (robust, process-shared, error-checking) in the same segment;
//! - a 64-byte `SeqLock` read vs a plain 64-byte copy out of the segment;
//! - a cross-process `Condvar` wake-up (a ping-pong with a child process through a
//!   `RobustMutex` and two condition variables) vs the same ping-pong on raw futex words.
//!
//! `cargo bench --bench sync` (`SHMKIT_BENCH_ROUNDS`, `SHMKIT_BENCH_ITERS` change the effort).
#![allow(missing_docs)]

use shmkit::sync::{Condvar, RobustMutex, SeqLock};
use shmkit::{Key, Region, Segment, ShmId};
use std::hint::black_box;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "SHMKIT_SYNC_BENCH_CHILD";
/// Ping-pong layout: a mutex holding [ping, pong], and a condition variable per direction.
const PP_MUTEX: usize = 0;
const PP_PING: usize = 128;
const PP_PONG: usize = 256;
/// Raw futex ping-pong words.
const RAW_PING: usize = 1024;
const RAW_PONG: usize = 1088;
const STOP: u32 = u32::MAX;

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn time(iters: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn compare(name: &str, rounds: u32, iters: u32, mut raw: impl FnMut(), mut ours: impl FnMut()) {
    time(iters, &mut raw);
    time(iters, &mut ours);
    let (mut raw_total, mut ours_total) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (r, o) = if round % 2 == 0 {
            let r = time(iters, &mut raw);
            (r, time(iters, &mut ours))
        } else {
            let o = time(iters, &mut ours);
            (time(iters, &mut raw), o)
        };
        raw_total += r;
        ours_total += o;
        ratios.push(o.as_secs_f64() / r.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let per = |d: Duration| d.as_nanos() as f64 / f64::from(rounds * iters);
    println!(
        "{name}: baseline {:.1} ns/op, shmkit {:.1} ns/op; ratio shmkit/baseline median {:.3} (min {:.3}, max {:.3}) over {rounds} interleaved rounds of {iters}",
        per(raw_total),
        per(ours_total),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}

fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: a shared FUTEX_WAIT on a live, aligned word; no timeout.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: a shared FUTEX_WAKE on a live, aligned word.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}

/// Waits until `word == value` on a raw futex.
fn raw_wait_for(word: &AtomicU32, value: u32) {
    loop {
        let now = word.load(Ordering::Acquire);
        if now == value {
            return;
        }
        futex_wait(word, now);
    }
}

/// The child's side of both ping-pongs: answer every ping with the same pong.
fn child(mode: &str, id: i32) {
    let segment = Segment::from_id(ShmId::from_raw(id)).expect("the bench segment");
    let map = segment.attach().expect("attach");
    let region: &Region = map.region();
    match mode {
        "raw" => {
            let ping = region.atomic_u32(RAW_PING).unwrap();
            let pong = region.atomic_u32(RAW_PONG).unwrap();
            let mut seen = 0;
            loop {
                let mut now = ping.load(Ordering::Acquire);
                while now == seen {
                    futex_wait(ping, now);
                    now = ping.load(Ordering::Acquire);
                }
                if now == STOP {
                    return;
                }
                seen = now;
                pong.store(now, Ordering::Release);
                futex_wake(pong);
            }
        }
        "cond" => {
            let m = RobustMutex::<[u32; 2], _>::open_in(region, PP_MUTEX).unwrap();
            let ping = Condvar::open_in(region, PP_PING).unwrap();
            let pong = Condvar::open_in(region, PP_PONG).unwrap();
            let mut g = m.lock().unwrap();
            let mut seen = g[0];
            loop {
                while g[0] == seen {
                    g = ping.wait(g).unwrap();
                }
                if g[0] == STOP {
                    return;
                }
                seen = g[0];
                g[1] = seen;
                // Notify after unlocking, so that the woken side does not block on the
                // mutex we still hold.
                drop(g);
                pong.notify_one().unwrap();
                g = m.lock().unwrap();
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn spawn_child(mode: &str, id: ShmId) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, format!("{mode} {}", id.raw()))
        .spawn()
        .expect("spawning the bench child")
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (mode, id) = spec.split_once(' ').expect("mode and id");
        child(mode, id.parse().expect("shmid"));
        return;
    }
    let smoke = !std::env::args().any(|a| a == "--bench");
    let rounds = if smoke {
        2
    } else {
        env("SHMKIT_BENCH_ROUNDS", 31)
    };
    let iters = if smoke {
        10
    } else {
        env("SHMKIT_BENCH_ITERS", 200_000)
    };

    let segment = Segment::create(Key::PRIVATE, 8192)
        .expect("shmget")
        .remove_on_drop();
    let map = segment.attach().expect("shmat");
    let region: &Region = map.region();

    // ---- uncontended lock + unlock ----
    let ours = RobustMutex::create_in(region, 0, 0u64).unwrap();
    let bare = region
        .as_mut_ptr()
        .wrapping_add(4096)
        .cast::<libc::pthread_mutex_t>();
    // SAFETY: `bare` is 8-aligned (page + 4096) inside the mapped segment, unused by
    // anything else; the attribute object is initialised before use and destroyed after.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        assert_eq!(libc::pthread_mutexattr_init(attr.as_mut_ptr()), 0);
        libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST);
        libc::pthread_mutexattr_settype(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ERRORCHECK);
        assert_eq!(libc::pthread_mutex_init(bare, attr.as_ptr()), 0);
        libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
    }
    compare(
        "uncontended lock+unlock (bare robust pthread mutex vs RobustMutex)",
        rounds,
        iters,
        || {
            // SAFETY: the mutex was initialised above and the segment stays mapped.
            unsafe {
                assert_eq!(libc::pthread_mutex_lock(bare), 0);
                assert_eq!(libc::pthread_mutex_unlock(bare), 0);
            }
        },
        || {
            let g = ours.lock().unwrap();
            black_box(&g);
        },
    );

    // ---- 64-byte seqlock read ----
    let seq = SeqLock::create_in(region, 256, [7u64; 8]).unwrap();
    let plain = region.as_ptr().wrapping_add(6144).cast::<[u64; 8]>();
    compare(
        "64-byte read (plain copy out of the segment vs SeqLock::read)",
        rounds,
        iters,
        || {
            // SAFETY: 64 bytes inside the segment, 8-aligned; nothing writes them.
            let v = unsafe { std::ptr::read_volatile(black_box(plain)) };
            black_box(v);
        },
        || {
            black_box(seq.read().unwrap());
        },
    );

    // ---- cross-process wake-up ----
    // The ping-pong lives in its own segment so that the child can find it by id.
    let pp = Segment::create(Key::PRIVATE, 4096)
        .expect("shmget")
        .remove_on_drop();
    let pp_map = pp.attach().unwrap();
    let pp_region: &Region = pp_map.region();
    let m = RobustMutex::create_in(pp_region, PP_MUTEX, [0u32; 2]).unwrap();
    let ping = Condvar::create_in(pp_region, PP_PING).unwrap();
    let pong = Condvar::create_in(pp_region, PP_PONG).unwrap();
    let raw_ping = pp_region.atomic_u32(RAW_PING).unwrap();
    let raw_pong = pp_region.atomic_u32(RAW_PONG).unwrap();
    let mut raw_child = spawn_child("raw", pp.id());
    let mut cond_child = spawn_child("cond", pp.id());
    let (mut raw_n, mut cond_n) = (0u32, 0u32);
    let pp_iters = if smoke { 10 } else { (iters / 50).max(1) };
    compare(
        "cross-process wake-up round trip (raw futex words vs RobustMutex + Condvar)",
        rounds,
        pp_iters,
        || {
            raw_n += 1;
            raw_ping.store(raw_n, Ordering::Release);
            futex_wake(raw_ping);
            raw_wait_for(raw_pong, raw_n);
        },
        || {
            cond_n += 1;
            m.lock().unwrap()[0] = cond_n;
            ping.notify_one().unwrap();
            let mut g = m.lock().unwrap();
            while g[1] != cond_n {
                g = pong.wait(g).unwrap();
            }
        },
    );
    raw_ping.store(STOP, Ordering::Release);
    futex_wake(raw_ping);
    m.lock().unwrap()[0] = STOP;
    ping.notify_all().unwrap();
    assert!(raw_child.wait().unwrap().success());
    assert!(cond_child.wait().unwrap().success());
}
