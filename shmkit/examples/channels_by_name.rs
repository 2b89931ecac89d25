//! Channels between processes, found by name: the parent opens an SPSC channel called
//! `shmkit-example-orders-PID` and a pub-sub channel called `shmkit-example-ticks-PID`, then
//! runs itself again as a child that opens both by the same names. The parent sends orders
//! (the child echoes each back through the pub-sub channel) and removes both segments at the
//! end, also if something fails on the way.
//!
//! `cargo run --example channels_by_name`
use shmkit::channel::named::NamedChannel;
use shmkit::channel::Wait;
use std::process::Command;
use std::time::Duration;

const ORDERS: u64 = 1000;
/// Long enough never to expire while the example works; it keeps a failure from hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// The child: receives orders on the SPSC channel and publishes an acknowledgement of each.
fn child(orders: &str, ticks: &str) -> Result<(), shmkit::Error> {
    let orders = NamedChannel::open(orders)?;
    let ticks = NamedChannel::open(ticks)?;
    let mut rx = orders.receiver()?;
    rx.set_wait(Wait::Adaptive { spins: 4096 });
    let mut publisher = ticks.publisher()?;
    let mut buf = Vec::new();
    for _ in 0..ORDERS {
        rx.recv_timeout(&mut buf, PATIENCE)?;
        let n = u64::from_le_bytes(buf[..8].try_into().expect("an 8-byte order"));
        publisher.publish(&(n * 2).to_le_bytes())?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, orders, ticks] = &args[..] {
        return Ok(child(orders, ticks)?);
    }
    let orders_name = format!("shmkit-example-orders-{}", std::process::id());
    let ticks_name = format!("shmkit-example-ticks-{}", std::process::id());
    let orders = NamedChannel::builder(&orders_name).spsc(1 << 14).create()?;
    let _remove_orders = orders.segment().clone().remove_on_drop();
    // 1024 slots: the child never laps this subscriber here, so nothing is lost.
    let ticks = NamedChannel::builder(&ticks_name)
        .pubsub(1024, 8)
        .create()?;
    let _remove_ticks = ticks.segment().clone().remove_on_drop();
    println!(
        "{orders_name}: key {} (SPSC); {ticks_name}: key {} (pub-sub)",
        orders.segment().key(),
        ticks.segment().key()
    );

    // Subscribe before the child can publish, then start it.
    let mut subscriber = ticks.subscriber()?;
    subscriber.set_wait(Wait::Adaptive { spins: 4096 })?;
    let mut tx = orders.sender()?;
    let mut peer = Command::new(std::env::current_exe()?)
        .args([&orders_name, &ticks_name])
        .spawn()?;

    let mut buf = Vec::new();
    let mut lost = 0;
    for n in 0..ORDERS {
        tx.send_timeout(&n.to_le_bytes(), PATIENCE)?;
        let delivery = subscriber.recv_timeout(&mut buf, PATIENCE)?;
        lost += delivery.lost;
        assert_eq!(
            buf,
            (n * 2).to_le_bytes(),
            "the acknowledgement of order {n}"
        );
    }
    assert!(peer.wait()?.success(), "the child failed");
    println!("{ORDERS} orders sent by name and acknowledged, {lost} lost");
    Ok(())
}
