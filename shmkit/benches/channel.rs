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

mod common;

use common::Control;
use shmkit::channel::{spsc, Receiver, Sender, Wait};
use shmkit::{Region, Segment};

const CHILD_ENV: &str = "SHMKIT_CHANNEL_BENCH_CHILD";
const CAP: usize = 4096;
/// Parent → child channel, child → parent channel.
const TO_CHILD: usize = 0;
const TO_PARENT: usize = spsc::size_for(CAP);
/// The bare ping-pong words and the mode handshake, each on its own cache line.
const CONTROL: usize = 2 * spsc::size_for(CAP);
const SEGMENT: usize = CONTROL + Control::SIZE;

const MSG: usize = 64;

/// The child: answers pings, or echoes 64-byte messages, as the parent's mode word says.
fn child(segment: Segment) {
    let map = segment.attach().expect("attach");
    let region: &Region = map.region();
    let mut rx = Receiver::open_in(region, TO_CHILD).unwrap();
    rx.set_wait(Wait::Poll);
    let mut tx = Sender::open_in(region, TO_PARENT).unwrap();
    let mut buf = [0u8; MSG];
    common::serve(&Control::new(region, CONTROL), || {
        if let Some(msg) = rx.try_recv_ref().unwrap() {
            msg.read_at(0, &mut buf).unwrap();
            drop(msg);
            let loan = tx.loan(MSG).unwrap();
            loan.write_at(0, &buf).unwrap();
            loan.commit();
        }
    });
}

fn main() {
    let Some((effort, segment)) = common::start("channel", CHILD_ENV, SEGMENT, child) else {
        return;
    };
    let map = segment.attach().expect("shmat");
    let region: &Region = map.region();
    spsc::create_in(region, TO_CHILD, CAP).unwrap();
    spsc::create_in(region, TO_PARENT, CAP).unwrap();
    let mut tx = Sender::open_in(region, TO_CHILD).unwrap();
    let mut rx = Receiver::open_in(region, TO_PARENT).unwrap();
    rx.set_wait(Wait::Poll);
    let child = common::spawn_child(CHILD_ENV, &segment);

    let payload = [0xa5u8; MSG];
    let mut back = [0u8; MSG];
    common::measure(
        "SPSC busy-poll",
        &Control::new(region, CONTROL),
        effort,
        child,
        || {
            let loan = tx.loan(MSG).unwrap();
            loan.write_at(0, &payload).unwrap();
            loan.commit();
            let msg = rx.recv_ref().unwrap();
            msg.read_at(0, &mut back).unwrap();
        },
    );
}
