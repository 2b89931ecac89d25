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

use common::{Control, MODE_BENCH, MODE_SPIN, MODE_STOP};
use shmkit::channel::pubsub::{self, Publisher, Subscriber};
use shmkit::channel::Wait;
use shmkit::{Key, Region, Segment, ShmId};
use std::time::Instant;

const CHILD_ENV: &str = "SHMKIT_PUBSUB_BENCH_CHILD";
const MSG: usize = 64;
const SLOTS: usize = 256;
/// Bench → child channel, child → bench channel.
const TO_CHILD: usize = 0;
const TO_PARENT: usize = pubsub::size_for(SLOTS, MSG);
/// The bare ping-pong words and the mode handshake, each on its own cache line.
const CONTROL: usize = 2 * pubsub::size_for(SLOTS, MSG);
const SEGMENT: usize = CONTROL + Control::SIZE;

const MODE_PUBSUB: u32 = MODE_BENCH;

/// The child: answers pings (mode spin) or publishes back every 64-byte message it
/// receives (mode pubsub), switching when the parent changes the mode word.
fn child(id: i32) {
    common::pin(1);
    let segment = Segment::from_id(ShmId::from_raw(id)).expect("the bench segment");
    let map = segment.attach().expect("attach");
    let ro = segment.attach_read_only().expect("attach read-only");
    let mut sub = Subscriber::open_in(ro.region(), TO_CHILD).unwrap();
    sub.set_wait(Wait::Poll).unwrap();
    let mut publisher = Publisher::open_in(map.region(), TO_PARENT).unwrap();
    let control = Control::new(map.region(), CONTROL);
    let mut buf = [0u8; MSG];
    loop {
        match control.next_mode() {
            MODE_SPIN => control.answer_pings(),
            MODE_PUBSUB => {
                while control.still(MODE_PUBSUB) {
                    if let Some(sample) = sub.try_recv_ref().unwrap() {
                        assert!(sample.read_at(0, &mut buf).unwrap().is_intact());
                        drop(sample);
                        let loan = publisher.loan(MSG).unwrap();
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
    let Some((rounds, iters)) = common::settings("pubsub") else {
        return;
    };
    common::pin(0);

    let segment = Segment::create(Key::PRIVATE, SEGMENT)
        .expect("shmget")
        .remove_on_drop();
    let map = segment.attach().expect("shmat");
    let region: &Region = map.region();
    pubsub::create_in(region, TO_CHILD, SLOTS, MSG).unwrap();
    pubsub::create_in(region, TO_PARENT, SLOTS, MSG).unwrap();
    let mut publisher = Publisher::open_in(region, TO_CHILD).unwrap();
    let mut sub = Subscriber::open_in(region, TO_PARENT).unwrap();
    sub.set_wait(Wait::Poll).unwrap();
    let mut child = common::spawn_child(CHILD_ENV, segment.id().raw());

    let control = Control::new(region, CONTROL);
    let mut n = 0u32;
    let payload = [0xa5u8; MSG];
    let mut back = [0u8; MSG];
    common::compare(
        "pub-sub busy-poll",
        rounds,
        iters,
        |iters| control.ping_rtt(&mut n, iters),
        |iters| {
            control.set_mode(MODE_PUBSUB);
            let start = Instant::now();
            for _ in 0..iters {
                let loan = publisher.loan(MSG).unwrap();
                loan.write_at(0, &payload).unwrap();
                loan.commit();
                let sample = sub.recv_ref().unwrap();
                assert!(sample.read_at(0, &mut back).unwrap().is_intact());
            }
            start.elapsed()
        },
    );
    control.set_mode(MODE_STOP);
    assert!(child.wait().unwrap().success());
}
