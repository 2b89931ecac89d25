//! The MPMC queue against the hardware limit, measured in the same run: a 64-byte message
//! round trip through two `shmkit::channel::mpmc` queues (one producer and one busy-polling
//! consumer on each) vs a bare cache-line ping-pong (one word each way, on its own cache
//! line) in the same segment, with the two processes pinned to two cores. One-way latency
//! is half a round trip. Rounds alternate the order (A B, then B A, …) and the result is
//! the median of the per-round ratios.
//!
//! `cargo bench --bench mpmc` (`SHMKIT_BENCH_ROUNDS`, `SHMKIT_BENCH_ITERS` change the
//! effort).
#![allow(missing_docs)]

mod common;

use common::Control;
use shmkit::channel::mpmc::{self, Consumer, Producer};
use shmkit::channel::Wait;
use shmkit::{Region, Segment};

const CHILD_ENV: &str = "SHMKIT_MPMC_BENCH_CHILD";
const CAP: usize = 64;
const MSG: usize = 64;
/// Parent → child queue, child → parent queue.
const TO_CHILD: usize = 0;
const TO_PARENT: usize = mpmc::size_for(CAP, MSG);
/// The bare ping-pong words and the mode handshake.
const CONTROL: usize = 2 * mpmc::size_for(CAP, MSG);
const SEGMENT: usize = CONTROL + Control::SIZE;

/// The child: answers pings, or echoes 64-byte messages from one queue to the other.
fn child(segment: Segment) {
    let map = segment.attach().expect("attach");
    let region: &Region = map.region();
    let mut rx = Consumer::open_in(region, TO_CHILD).unwrap();
    rx.set_wait(Wait::Poll);
    let mut tx = Producer::open_in(region, TO_PARENT).unwrap();
    let mut buf = [0u8; MSG];
    common::serve(&Control::new(region, CONTROL), || {
        if let Some(msg) = rx.try_recv_ref().unwrap() {
            msg.read_at(0, &mut buf).unwrap();
            drop(msg);
            let loan = tx.loan(MSG).unwrap();
            loan.write_at(0, &buf).unwrap();
            loan.commit().unwrap();
        }
    });
}

fn main() {
    let Some((effort, segment)) = common::start("mpmc", CHILD_ENV, SEGMENT, child) else {
        return;
    };
    let map = segment.attach().expect("shmat");
    let region: &Region = map.region();
    mpmc::create_in(region, TO_CHILD, CAP, MSG).unwrap();
    mpmc::create_in(region, TO_PARENT, CAP, MSG).unwrap();
    let mut tx = Producer::open_in(region, TO_CHILD).unwrap();
    let mut rx = Consumer::open_in(region, TO_PARENT).unwrap();
    rx.set_wait(Wait::Poll);
    let child = common::spawn_child(CHILD_ENV, &segment);

    let payload = [0xa5u8; MSG];
    let mut back = [0u8; MSG];
    common::measure(
        "MPMC queue, busy-poll",
        &Control::new(region, CONTROL),
        effort,
        child,
        || {
            let loan = tx.loan(MSG).unwrap();
            loan.write_at(0, &payload).unwrap();
            loan.commit().unwrap();
            let msg = rx.recv_ref().unwrap();
            msg.read_at(0, &mut back).unwrap();
        },
    );
}
