//! What the two-process latency benchmarks share: pinning, the settings, a mode word the
//! parent flips and the child acknowledges, the bare cache-line ping-pong (the baseline),
//! and the interleaved rounds (A B, then B A, …) whose per-round ratios are reported as a
//! median.
#![allow(dead_code)]

use shmkit::{Key, Region, Segment, ShmId};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The child answers pings.
pub(crate) const MODE_SPIN: u32 = 1;
/// The child echoes messages through the structure under test.
pub(crate) const MODE_ECHO: u32 = 2;
/// The child exits.
pub(crate) const MODE_STOP: u32 = 3;
/// Bytes the ping-pong words and the mode handshake take (four cache-line pairs).
pub(crate) const WORDS: usize = 512;

/// The ping, pong, mode and acknowledgement words, each on its own 128-byte span from
/// `at` (a multiple of 128) of the bench segment.
#[derive(Clone, Copy)]
pub(crate) struct Words<'a> {
    region: &'a Region,
    at: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(region: &'a Region, at: usize) -> Words<'a> {
        Words { region, at }
    }

    fn word(&self, i: usize) -> &'a AtomicU32 {
        self.region
            .atomic_u32(self.at + i * 128)
            .expect("a word in the bench segment")
    }

    fn ping(&self) -> &'a AtomicU32 {
        self.word(0)
    }

    fn pong(&self) -> &'a AtomicU32 {
        self.word(1)
    }

    pub(crate) fn mode(&self) -> &'a AtomicU32 {
        self.word(2)
    }

    /// Parent: switches the child to mode `m` and waits until it follows.
    pub(crate) fn set_mode(&self, m: u32) {
        self.mode().store(m, Ordering::Release);
        while self.word(3).load(Ordering::Acquire) != m {
            std::hint::spin_loop();
        }
    }

    /// Child: reads the mode and acknowledges it.
    pub(crate) fn follow(&self) -> u32 {
        let m = self.mode().load(Ordering::Acquire);
        self.word(3).store(m, Ordering::Release);
        m
    }

    /// Child: answers pings while the mode stays [`MODE_SPIN`]: whenever `ping` differs
    /// from the last `pong`, copies it. The last answer is read from `pong` (the child is
    /// its only writer), not from `ping` on entry: the parent may send its first ping right
    /// after the acknowledgement, before this function runs, and a copy of `ping` taken
    /// then would never be answered (the two processes would spin forever).
    pub(crate) fn answer_pings(&self) {
        let (ping, pong) = (self.ping(), self.pong());
        let mut answered = pong.load(Ordering::Relaxed);
        while self.mode().load(Ordering::Relaxed) == MODE_SPIN {
            let now = ping.load(Ordering::Acquire);
            if now != answered {
                answered = now;
                pong.store(now, Ordering::Release);
            }
            std::hint::spin_loop();
        }
    }

    /// Child: follows the parent's mode until [`MODE_STOP`]: answers pings, or calls `echo`
    /// (which passes on a message if one arrived) in a busy loop.
    pub(crate) fn serve(&self, mut echo: impl FnMut()) {
        loop {
            match self.follow() {
                MODE_SPIN => self.answer_pings(),
                MODE_ECHO => {
                    while self.mode().load(Ordering::Relaxed) == MODE_ECHO {
                        echo();
                        std::hint::spin_loop();
                    }
                }
                MODE_STOP => return,
                _ => std::hint::spin_loop(),
            }
        }
    }

    /// Parent: `iters` calls of `round_trip` (send a message, wait for the echo) with the
    /// child echoing.
    pub(crate) fn echo_rtt(&self, iters: u32, mut round_trip: impl FnMut()) -> Duration {
        self.set_mode(MODE_ECHO);
        let start = Instant::now();
        for _ in 0..iters {
            round_trip();
        }
        start.elapsed()
    }

    /// Parent: `iters` round trips of the bare ping-pong; `n` numbers the pings.
    pub(crate) fn ping_rtt(&self, n: &mut u32, iters: u32) -> Duration {
        self.set_mode(MODE_SPIN);
        let (ping, pong) = (self.ping(), self.pong());
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

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pins this process to `cpu` (sched_setaffinity(2)); false if that is not possible.
pub(crate) fn pin(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it;
    // sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Rounds and round trips per round: a smoke run unless `--bench` was given;
/// `SHMKIT_BENCH_ROUNDS`, `SHMKIT_BENCH_ITERS` change the effort. `None` (and a line
/// saying so) on a machine with fewer than two CPUs.
pub(crate) fn settings(name: &str) -> Option<(u32, u32)> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        println!(
            "{name}: skipped (busy-polling ping-pongs need two CPUs, this machine has {cpus})"
        );
        return None;
    }
    if !std::env::args().any(|a| a == "--bench") {
        return Some((2, 10));
    }
    Some((
        env("SHMKIT_BENCH_ROUNDS", 31),
        env("SHMKIT_BENCH_ITERS", 20_000),
    ))
}

/// The outcome of interleaved rounds: total times of A and B, and the sorted ratios B/A.
pub(crate) struct Rounds {
    pub(crate) a: Duration,
    pub(crate) b: Duration,
    pub(crate) ratios: Vec<f64>,
}

/// Runs `a` and `b` once each to warm up, then `rounds` rounds alternating which goes first.
pub(crate) fn interleave(
    rounds: u32,
    mut a: impl FnMut() -> Duration,
    mut b: impl FnMut() -> Duration,
) -> Rounds {
    a();
    b();
    let mut out = Rounds {
        a: Duration::ZERO,
        b: Duration::ZERO,
        ratios: Vec::new(),
    };
    for round in 0..rounds {
        let (ta, tb) = if round % 2 == 0 {
            let ta = a();
            (ta, b())
        } else {
            let tb = b();
            (a(), tb)
        };
        out.a += ta;
        out.b += tb;
        out.ratios.push(tb.as_secs_f64() / ta.as_secs_f64());
    }
    out.ratios.sort_by(f64::total_cmp);
    out
}

impl Rounds {
    /// One way (half a round trip) in nanoseconds, for a total over `rounds * iters` round
    /// trips.
    pub(crate) fn one_way(d: Duration, rounds: u32, iters: u32) -> f64 {
        d.as_nanos() as f64 / f64::from(rounds * iters) / 2.0
    }

    /// "baseline X ns, shmkit Y ns; ratio shmkit/baseline median M (min, max)".
    pub(crate) fn summary(&self, rounds: u32, iters: u32) -> String {
        let r = &self.ratios;
        format!(
            "baseline {:.1} ns, shmkit {:.1} ns; ratio shmkit/baseline median {:.3} (min {:.3}, max {:.3}) over {rounds} interleaved rounds of {iters} round trips",
            Self::one_way(self.a, rounds, iters),
            Self::one_way(self.b, rounds, iters),
            r[r.len() / 2],
            r[0],
            r[r.len() - 1]
        )
    }
}

/// A whole two-process benchmark named `name`: the structures under test take the first
/// `structures` bytes of a new private segment (laid out by `setup`), the ping-pong words
/// follow. The child process (this executable again, pinned to CPU 1) runs `child`; this
/// process (pinned to CPU 0) runs `parent`, which returns the interleaved rounds, and
/// prints "64-byte one-way latency, … `label`: <summary>".
pub(crate) fn run(
    name: &str,
    label: &str,
    structures: usize,
    setup: impl FnOnce(&Region),
    child: impl FnOnce(&Region, Words<'_>),
    parent: impl FnOnce(&Region, Words<'_>, u32, u32) -> Rounds,
) {
    let child_env = format!("SHMKIT_{}_BENCH_CHILD", name.to_uppercase());
    if let Ok(id) = std::env::var(&child_env) {
        pin(1);
        let id = ShmId::from_raw(id.parse().expect("shmid"));
        let segment = Segment::from_id(id).expect("the bench segment");
        let map = segment.attach().expect("attach");
        child(map.region(), Words::new(map.region(), structures));
        return;
    }
    let Some((rounds, iters)) = settings(name) else {
        return;
    };
    pin(0);
    let segment = Segment::create(Key::PRIVATE, structures + WORDS)
        .expect("shmget")
        .remove_on_drop();
    let map = segment.attach().expect("shmat");
    let region: &Region = map.region();
    setup(region);
    let mut process = Command::new(std::env::current_exe().unwrap())
        .env(child_env, segment.id().raw().to_string())
        .spawn()
        .expect("spawning the bench child");
    let words = Words::new(region, structures);
    let result = parent(region, words, rounds, iters);
    words.set_mode(MODE_STOP);
    assert!(process.wait().unwrap().success());
    println!(
        "64-byte one-way latency, processes pinned to CPUs 0 and 1 ({label}): {}",
        result.summary(rounds, iters)
    );
}
