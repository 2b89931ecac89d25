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

mod pingpong;

use pingpong::{Words, MODE_ECHO, MODE_SPIN, MODE_STOP};
use shmkit::channel::{spsc, Receiver, Sender, Wait};
use shmkit::{Key, Region, Segment, ShmId};
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::Instant;

const CHILD_ENV: &str = "SHMKIT_CHANNEL_BENCH_CHILD";
const CAP: usize = 4096;
/// Parent → child channel, child → parent channel.
const TO_CHILD: usize = 0;
const TO_PARENT: usize = spsc::size_for(CAP);
/// The bare ping-pong words and the mode handshake, each on its own cache line.
const PING: usize = 2 * spsc::size_for(CAP);
const SEGMENT: usize = PING + pingpong::WORDS;

const MSG: usize = 64;

/// The child: answers pings (mode spin) or echoes 64-byte messages (mode echo), switching
/// when the parent changes the mode word.
fn child(id: i32) {
    pingpong::pin(1);
    let segment = Segment::from_id(ShmId::from_raw(id)).expect("the bench segment");
    let map = segment.attach().expect("attach");
    let region: &Region = map.region();
    let mut rx = Receiver::open_in(region, TO_CHILD).unwrap();
    rx.set_wait(Wait::Poll);
    let mut tx = Sender::open_in(region, TO_PARENT).unwrap();
    let words = Words::new(region, PING);
    let mut buf = [0u8; MSG];
    loop {
        match words.follow() {
            MODE_SPIN => words.answer_pings(),
            MODE_ECHO => {
                while words.mode().load(Ordering::Relaxed) == MODE_ECHO {
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

fn main() {
    if let Ok(id) = std::env::var(CHILD_ENV) {
        child(id.parse().expect("shmid"));
        return;
    }
    let Some((rounds, iters)) = pingpong::settings("channel") else {
        return;
    };
    pingpong::pin(0);

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

    let words = Words::new(region, PING);
    let mut n = 0u32;
    let payload = [0xa5u8; MSG];
    let mut back = [0u8; MSG];
    let result = pingpong::interleave(
        rounds,
        || words.ping_rtt(&mut n, iters),
        || {
            words.set_mode(MODE_ECHO);
            let start = Instant::now();
            for _ in 0..iters {
                let loan = tx.loan(MSG).unwrap();
                loan.write_at(0, &payload).unwrap();
                loan.commit();
                let msg = rx.recv_ref().unwrap();
                msg.read_at(0, &mut back).unwrap();
            }
            start.elapsed()
        },
    );
    words.set_mode(MODE_STOP);
    assert!(child.wait().unwrap().success());
    // One way = half a round trip.
    println!(
        "64-byte one-way latency, processes pinned to CPUs 0 and 1 (bare cache-line ping-pong vs SPSC busy-poll): {}",
        result.summary(rounds, iters)
    );
}
