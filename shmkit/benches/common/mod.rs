//! Shared by the benches: the effort from the environment, the interleaved rounds (A B,
//! then B A, …) reported as the median of the per-round ratios, and for the cross-process
//! latency benches (`channel`, `mpmc`, `pubsub`) pinning, the mode handshake between the
//! bench and its child process, and the bare cache-line ping-pong that is the baseline.
#![allow(dead_code, unreachable_pub, missing_docs)]

use shmkit::{Key, Region, RemoveOnDrop, Segment, ShmId};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The child answers pings.
pub const MODE_SPIN: u32 = 1;
/// The child returns.
pub const MODE_STOP: u32 = 3;
/// Modes from here on are the bench's own.
pub const MODE_BENCH: u32 = 2;

/// The number in the environment variable `name`, or `default`.
pub fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pins this process to `cpu` (sched_setaffinity(2)); false if that is not possible.
fn pin(cpu: usize) -> bool {
    shmkit_os::pin_to_cpu(cpu).is_ok()
}

/// Rounds and iterations per round: `(2, 10)` for a smoke run (`cargo test --benches`),
/// else `SHMKIT_BENCH_ROUNDS` (31) and `SHMKIT_BENCH_ITERS` (`iters`).
pub fn effort_with(iters: u32) -> (u32, u32) {
    if !std::env::args().any(|a| a == "--bench") {
        return (2, 10);
    }
    (
        env("SHMKIT_BENCH_ROUNDS", 31),
        env("SHMKIT_BENCH_ITERS", iters),
    )
}

/// [`effort_with`] 20,000 round trips per round.
fn effort() -> (u32, u32) {
    effort_with(20_000)
}

/// The time `iters` calls of `f` take.
pub fn time(iters: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// Interleaved rounds of a baseline and a candidate: their total times and the per-round
/// ratios candidate/baseline, sorted.
pub struct Interleaved {
    pub baseline: Duration,
    pub candidate: Duration,
    pub ratios: Vec<f64>,
}

impl Interleaved {
    /// The median, smallest and largest per-round ratio.
    pub fn ratios(&self) -> (f64, f64, f64) {
        let r = &self.ratios;
        (r[r.len() / 2], r[0], r[r.len() - 1])
    }
}

/// Runs `rounds` rounds of `iters` iterations of the baseline `a` and of `b` (each returns
/// the time its `iters` iterations took), alternating which goes first, after one warm-up
/// of each.
pub fn interleave(
    rounds: u32,
    iters: u32,
    mut a: impl FnMut(u32) -> Duration,
    mut b: impl FnMut(u32) -> Duration,
) -> Interleaved {
    a(iters);
    b(iters);
    let (mut baseline, mut candidate) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (ta, tb) = if round % 2 == 0 {
            let ta = a(iters);
            (ta, b(iters))
        } else {
            let tb = b(iters);
            (a(iters), tb)
        };
        baseline += ta;
        candidate += tb;
        ratios.push(tb.as_secs_f64() / ta.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    Interleaved {
        baseline,
        candidate,
        ratios,
    }
}

/// A bench's start. In the child process (`var` names the bench segment's id) it pins the
/// child to CPU 1, runs `child` with the segment and returns `None`. In the bench, it returns
/// the effort (rounds, round trips per round) and a new private segment of `size` bytes,
/// removed on drop, with this process pinned to CPU 0; `None` (and a line saying why) on a
/// machine with fewer than two CPUs.
pub fn start(
    bench: &str,
    var: &str,
    size: usize,
    child: impl FnOnce(Segment),
) -> Option<((u32, u32), RemoveOnDrop<Segment>)> {
    if let Ok(id) = std::env::var(var) {
        pin(1);
        let id = ShmId::from_raw(id.parse().expect("shmid"));
        child(Segment::from_id(id).expect("the bench segment"));
        return None;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        println!(
            "{bench}: skipped (busy-polling ping-pongs need two CPUs, this machine has {cpus})"
        );
        return None;
    }
    pin(0);
    let segment = Segment::create(Key::PRIVATE, size).expect("shmget");
    Some((effort(), segment.remove_on_drop()))
}

/// Runs this bench's executable again as the child, with `var` set to `segment`'s id.
pub fn spawn_child(var: &str, segment: &Segment) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(var, segment.id().raw().to_string())
        .spawn()
        .expect("spawning the bench child")
}

/// Four words on their own cache lines at `at` of the bench segment: ping, pong, the mode
/// the parent asks for, and the mode the child acknowledged.
pub struct Control<'a> {
    region: &'a Region,
    at: usize,
}

impl<'a> Control<'a> {
    /// Bytes the control words take.
    pub const SIZE: usize = 512;

    pub fn new(region: &'a Region, at: usize) -> Self {
        Control { region, at }
    }

    fn word(&self, line: usize) -> &AtomicU32 {
        self.region
            .atomic_u32(self.at + 128 * line)
            .expect("a word in the bench segment")
    }

    /// Parent: switches the child to mode `m` and waits until it is there.
    pub fn set_mode(&self, m: u32) {
        self.word(2).store(m, Ordering::Release);
        while self.word(3).load(Ordering::Acquire) != m {
            std::hint::spin_loop();
        }
    }

    /// Child: the mode asked for, acknowledged.
    pub fn next_mode(&self) -> u32 {
        let m = self.word(2).load(Ordering::Acquire);
        self.word(3).store(m, Ordering::Release);
        m
    }

    /// Child: whether the mode is still `m`.
    pub fn still(&self, m: u32) -> bool {
        self.word(2).load(Ordering::Relaxed) == m
    }

    /// Child, in [`MODE_SPIN`]: answers each ping with the same pong. It starts from the
    /// last pong, not the current ping: the parent may send its first ping as soon as it
    /// sees the mode acknowledged, before this loop starts, and that ping must be answered.
    pub fn answer_pings(&self) {
        let (ping, pong) = (self.word(0), self.word(1));
        let mut seen = pong.load(Ordering::Relaxed);
        while self.still(MODE_SPIN) {
            let now = ping.load(Ordering::Acquire);
            if now != seen {
                seen = now;
                pong.store(now, Ordering::Release);
            }
            std::hint::spin_loop();
        }
    }

    /// Parent: `iters` bare ping-pong round trips (after switching the child to spin).
    pub fn ping_rtt(&self, n: &mut u32, iters: u32) -> Duration {
        self.set_mode(MODE_SPIN);
        let (ping, pong) = (self.word(0), self.word(1));
        let start = Instant::now();
        for _ in 0..iters {
            *n = n.wrapping_add(1);
            ping.store(*n, Ordering::Release);
            while pong.load(Ordering::Acquire) != *n {
                std::hint::spin_loop();
            }
        }
        start.elapsed()
    }
}

/// Child: serves the parent's modes until [`MODE_STOP`]: answers pings in [`MODE_SPIN`],
/// calls `step` (receive a message if one is there, send it back) in [`MODE_BENCH`].
pub fn serve(control: &Control<'_>, mut step: impl FnMut()) {
    loop {
        match control.next_mode() {
            MODE_SPIN => control.answer_pings(),
            MODE_BENCH => {
                while control.still(MODE_BENCH) {
                    step();
                    std::hint::spin_loop();
                }
            }
            MODE_STOP => return,
            _ => std::hint::spin_loop(),
        }
    }
}

/// Parent: [`compare`]s the bare ping-pong with `round_trip` (one message there and back,
/// the child in [`MODE_BENCH`]), then stops the child and checks that it exited cleanly.
pub fn measure(
    what: &str,
    control: &Control<'_>,
    (rounds, iters): (u32, u32),
    mut child: Child,
    mut round_trip: impl FnMut(),
) {
    let mut n = 0u32;
    compare(
        what,
        rounds,
        iters,
        |iters| control.ping_rtt(&mut n, iters),
        |iters| {
            control.set_mode(MODE_BENCH);
            let start = Instant::now();
            for _ in 0..iters {
                round_trip();
            }
            start.elapsed()
        },
    );
    control.set_mode(MODE_STOP);
    assert!(child.wait().unwrap().success());
}

/// Runs `rounds` rounds of `iters` round trips of the baseline `a` and of `b`, alternating
/// which goes first, after one warm-up of each, and prints the one-way latencies (half a
/// round trip) and the median, min and max of the per-round ratios b/a.
fn compare(
    what: &str,
    rounds: u32,
    iters: u32,
    a: impl FnMut(u32) -> Duration,
    b: impl FnMut(u32) -> Duration,
) {
    let run = interleave(rounds, iters, a, b);
    let per = |d: Duration| d.as_nanos() as f64 / f64::from(rounds * iters) / 2.0;
    let (median, min, max) = run.ratios();
    println!(
        "64-byte one-way latency, processes pinned to CPUs 0 and 1 (bare cache-line ping-pong vs {what}): baseline {:.1} ns, shmkit {:.1} ns; ratio shmkit/baseline median {median:.3} (min {min:.3}, max {max:.3}) over {rounds} interleaved rounds of {iters} round trips",
        per(run.baseline),
        per(run.candidate),
    );
}
