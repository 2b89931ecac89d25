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

use pingpong::Words;
use shmkit::channel::{spsc, Receiver, Sender, Wait};
use shmkit::Region;

const CAP: usize = 4096;
/// Parent → child channel, child → parent channel.
const TO_CHILD: usize = 0;
const TO_PARENT: usize = spsc::size_for(CAP);

const MSG: usize = 64;

/// The child: answers pings (mode spin) or echoes 64-byte messages (mode echo), switching
/// when the parent changes the mode word.
fn child(region: &Region, words: Words<'_>) {
    let mut rx = Receiver::open_in(region, TO_CHILD).unwrap();
    rx.set_wait(Wait::Poll);
    let mut tx = Sender::open_in(region, TO_PARENT).unwrap();
    let mut buf = [0u8; MSG];
    words.serve(|| {
        if let Some(msg) = rx.try_recv_ref().unwrap() {
            msg.read_at(0, &mut buf).unwrap();
            drop(msg);
            let loan = tx.loan(MSG).unwrap();
            loan.write_at(0, &buf).unwrap();
            loan.commit();
        }
    });
}

/// This process: interleaved rounds of the bare ping-pong and of 64-byte round trips.
fn parent(region: &Region, words: Words<'_>, rounds: u32, iters: u32) -> pingpong::Rounds {
    let mut tx = Sender::open_in(region, TO_CHILD).unwrap();
    let mut rx = Receiver::open_in(region, TO_PARENT).unwrap();
    rx.set_wait(Wait::Poll);
    let mut n = 0u32;
    let payload = [0xa5u8; MSG];
    let mut back = [0u8; MSG];
    pingpong::interleave(
        rounds,
        || words.ping_rtt(&mut n, iters),
        || {
            words.echo_rtt(iters, || {
                let loan = tx.loan(MSG).unwrap();
                loan.write_at(0, &payload).unwrap();
                loan.commit();
                let msg = rx.recv_ref().unwrap();
                msg.read_at(0, &mut back).unwrap();
            })
        },
    )
}

fn main() {
    pingpong::run(
        "channel",
        "bare cache-line ping-pong vs SPSC busy-poll",
        2 * spsc::size_for(CAP),
        |region| {
            spsc::create_in(region, TO_CHILD, CAP).unwrap();
            spsc::create_in(region, TO_PARENT, CAP).unwrap();
        },
        child,
        parent,
    );
}
