//! The pub-sub channel against the hardware limit, measured in the same run: a 64-byte
//! message round trip through two `shmkit::channel::pubsub` channels vs a bare cache-line
//! ping-pong (one word each way, on its own cache line) in the same segment, with the two
//! processes pinned to two cores. The reply path is a second pub-sub channel: the child
//! subscribes to the first over a read-only attachment (busy-polling, [`Wait::Poll`]) and
//! publishes each message back on the second, to which the bench subscribes (busy-polling).
//! One-way latency is half a round trip. Rounds alternate the order (A B, then B A, …) and
//! the result is the median of the per-round ratios.
//!
//! `cargo bench --bench pubsub` (`SHMKIT_BENCH_ROUNDS`, `SHMKIT_BENCH_ITERS` change the
//! effort).
#![allow(missing_docs)]

mod common;

use common::Control;
use shmkit::channel::pubsub::{self, Publisher, Subscriber};
use shmkit::channel::Wait;
use shmkit::Segment;

const CHILD_ENV: &str = "SHMKIT_PUBSUB_BENCH_CHILD";
const MSG: usize = 64;
const SLOTS: usize = 256;
/// Bench → child channel at offset 0, child → bench channel after it, then the bare
/// ping-pong words and the mode handshake, each on its own cache line.
const CHANNEL: usize = pubsub::size_for(SLOTS, MSG);
const SEGMENT: usize = 2 * CHANNEL + Control::SIZE;

/// The child: answers pings, or publishes back every 64-byte message it receives, as the
/// parent's mode word says.
fn child(segment: Segment) {
    let map = segment.attach().expect("attach");
    let ro = segment.attach_read_only().expect("attach read-only");
    let mut sub = Subscriber::open_in(ro.region(), 0).unwrap();
    sub.set_wait(Wait::Poll).unwrap();
    let mut publisher = Publisher::open_in(map.region(), CHANNEL).unwrap();
    let mut buf = [0u8; MSG];
    common::serve(&Control::new(map.region(), 2 * CHANNEL), || {
        if let Some(sample) = sub.try_recv_ref().unwrap() {
            assert!(sample.read_at(0, &mut buf).unwrap().is_intact());
            drop(sample);
            publisher.publish(&buf).unwrap();
        }
    });
}

fn main() {
    let Some((effort, segment)) = common::start("pubsub", CHILD_ENV, SEGMENT, child) else {
        return;
    };
    let map = segment.attach().expect("shmat");
    for at in [0, CHANNEL] {
        pubsub::create_in(map.region(), at, SLOTS, MSG).unwrap();
    }
    let mut publisher = Publisher::open_in(map.region(), 0).unwrap();
    let mut sub = Subscriber::open_in(map.region(), CHANNEL).unwrap();
    sub.set_wait(Wait::Poll).unwrap();
    let child = common::spawn_child(CHILD_ENV, &segment);

    let payload = [0xa5u8; MSG];
    let mut back = [0u8; MSG];
    common::measure(
        "pub-sub busy-poll",
        &Control::new(map.region(), 2 * CHANNEL),
        effort,
        child,
        || {
            publisher.publish(&payload).unwrap();
            let sample = sub.recv_ref().unwrap();
            assert!(sample.read_at(0, &mut back).unwrap().is_intact());
        },
    );
}
