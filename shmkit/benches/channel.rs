//! The SPSC channel against the hardware limit, measured in the same run: a 64-byte message
//! round trip through two `shmkit::channel` SPSC channels (busy-polling receivers) vs a bare
//! cache-line ping-pong (one word each way, on its own cache line) in the same segment, with
//! the two processes pinned to two cores. One-way latency is half a round trip. Rounds
//! alternate the order (A B, then B A, …) and the result is the median of the per-round
//! ratios.
//!
//! `cargo bench --bench channel` (`SHMKIT_BENCH_ROUNDS`, `SHMKIT_BENCH_ITERS` change the
//! effort).
#![allow(missing_docs)]

use shmkit::channel::{spsc, Receiver, Sender, Wait};
use shmkit::{Key, Region, Segment, ShmId};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "SHMKIT_CHANNEL_BENCH_CHILD";
const CAP: usize = 4096;
/// Parent → child channel, child → parent channel.
const TO_CHILD: usize = 0;
const TO_PARENT: usize = spsc::size_for(CAP);
/// The bare ping-pong words and the mode handshake, each on its own cache line.
const PING: usize = 2 * spsc::size_for(CAP);
const PONG: usize = PING + 128;
const MODE: usize = PING + 256;
const ACK: usize = PING + 384;
const SEGMENT: usize = PING + 512;

const MODE_SPIN: u32 = 1;
const MODE_SPSC: u32 = 2;
const MODE_STOP: u32 = 3;

const MSG: usize = 64;

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pins this process to `cpu` (sched_setaffinity(2)); false if that is not possible.
fn pin(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it;
    // sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

fn word(region: &Region, at: usize) -> &AtomicU32 {
    region.atomic_u32(at).expect("a word in the bench segment")
}

/// The child: answers pings (mode spin) or echoes 64-byte messages (mode spsc), switching
/// when the parent changes the mode word.
fn child(id: i32) {
    pin(1);
    let segment = Segment::from_id(ShmId::from_raw(id)).expect("the bench segment");
    let map = segment.attach().expect("attach");
    let region: &Region = map.region();
    let mut rx = Receiver::open_in(region, TO_CHILD).unwrap();
    rx.set_wait(Wait::Poll);
    let mut tx = Sender::open_in(region, TO_PARENT).unwrap();
    let (ping, pong, mode, ack) = (
        word(region, PING),
        word(region, PONG),
        word(region, MODE),
        word(region, ACK),
    );
    let mut buf = [0u8; MSG];
    loop {
        let m = mode.load(Ordering::Acquire);
        ack.store(m, Ordering::Release);
        match m {
            MODE_SPIN => {
                let mut seen = ping.load(Ordering::Acquire);
                while mode.load(Ordering::Relaxed) == MODE_SPIN {
                    let now = ping.load(Ordering::Acquire);
                    if now != seen {
                        seen = now;
                        pong.store(now, Ordering::Release);
                    }
                    std::hint::spin_loop();
                }
            }
            MODE_SPSC => {
                while mode.load(Ordering::Relaxed) == MODE_SPSC {
                    if let Some(msg) = rx.try_recv_ref().unwrap() {
                        msg.read_at(0, &mut buf).unwrap();
                        drop(msg);
                        let loan = tx.loan(MSG).unwrap();
                        loan.write_at(0, &buf).unwrap();
                        loan.commit();
                    }
                    std::hint::spin_loop();
                }
            }
            MODE_STOP => return,
            _ => std::hint::spin_loop(),
        }
    }
}

fn set_mode(region: &Region, m: u32) {
    word(region, MODE).store(m, Ordering::Release);
    while word(region, ACK).load(Ordering::Acquire) != m {
        std::hint::spin_loop();
    }
}

fn main() {
    if let Ok(id) = std::env::var(CHILD_ENV) {
        child(id.parse().expect("shmid"));
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
        env("SHMKIT_BENCH_ITERS", 20_000)
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        println!(
            "channel: skipped (busy-polling ping-pongs need two CPUs, this machine has {cpus})"
        );
        return;
    }
    pin(0);

    let segment = Segment::create(Key::PRIVATE, SEGMENT)
        .expect("shmget")
        .remove_on_drop();
    let map = segment.attach().expect("shmat");
    let region: &Region = map.region();
    spsc::create_in(region, TO_CHILD, CAP).unwrap();
    spsc::create_in(region, TO_PARENT, CAP).unwrap();
    let mut tx = Sender::open_in(region, TO_CHILD).unwrap();
    let mut rx = Receiver::open_in(region, TO_PARENT).unwrap();
    rx.set_wait(Wait::Poll);
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, segment.id().raw().to_string())
        .spawn()
        .expect("spawning the bench child");

    let (ping, pong) = (word(region, PING), word(region, PONG));
    let mut n = 0u32;
    let mut spin_rtt = |iters: u32| {
        set_mode(region, MODE_SPIN);
        let start = Instant::now();
        for _ in 0..iters {
            n = n.wrapping_add(1);
            ping.store(n, Ordering::Release);
            while pong.load(Ordering::Acquire) != n {
                std::hint::spin_loop();
            }
        }
        start.elapsed()
    };
    let payload = [0xa5u8; MSG];
    let mut back = [0u8; MSG];
    let mut spsc_rtt = |iters: u32| {
        set_mode(region, MODE_SPSC);
        let start = Instant::now();
        for _ in 0..iters {
            let loan = tx.loan(MSG).unwrap();
            loan.write_at(0, &payload).unwrap();
            loan.commit();
            let msg = rx.recv_ref().unwrap();
            msg.read_at(0, &mut back).unwrap();
        }
        start.elapsed()
    };

    spin_rtt(iters);
    spsc_rtt(iters);
    let (mut spin_total, mut spsc_total) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = spin_rtt(iters);
            (a, spsc_rtt(iters))
        } else {
            let b = spsc_rtt(iters);
            (spin_rtt(iters), b)
        };
        spin_total += a;
        spsc_total += b;
        ratios.push(b.as_secs_f64() / a.as_secs_f64());
    }
    set_mode(region, MODE_STOP);
    assert!(child.wait().unwrap().success());
    ratios.sort_by(f64::total_cmp);
    // One way = half a round trip.
    let per = |d: Duration| d.as_nanos() as f64 / f64::from(rounds * iters) / 2.0;
    println!(
        "64-byte one-way latency, processes pinned to CPUs 0 and 1 (bare cache-line ping-pong vs SPSC busy-poll): baseline {:.1} ns, shmkit {:.1} ns; ratio shmkit/baseline median {:.3} (min {:.3}, max {:.3}) over {rounds} interleaved rounds of {iters} round trips",
        per(spin_total),
        per(spsc_total),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
