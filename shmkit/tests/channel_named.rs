//! Channels opened by name: the key from the name, across processes, and names whose keys
//! collide.

mod channel_probe;
mod common;

use channel_probe::{message, send_seq, ChannelProbe};
use common::ProbeOptions;
use shmkit::channel::named::{key_for, name_hash, Kind, NamedChannel, MAX_NAME};
use shmkit::{ErrorKind, Key, RemoveOnDrop, Segment};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<ChannelProbe>();
}

/// A name no other test (or concurrent run) uses.
fn unique(tag: &str) -> String {
    format!(
        "shmkit-test-{tag}-{}-{:x}",
        std::process::id(),
        common::random_u64()
    )
}

/// Removes the channel's segment when the test ends, however it ends.
fn guard(channel: &NamedChannel) -> RemoveOnDrop<Segment> {
    channel.segment().clone().remove_on_drop()
}

#[test]
fn the_key_derives_from_the_name_and_is_never_private() {
    // Fixed values (computed by an independent FNV-1a in Python): a name maps to the same
    // key in every version and on every machine.
    assert_eq!(name_hash(""), 0x6fee_6c10_8710_f0ec);
    assert_eq!(name_hash("orders"), 0x822b_060b_5406_d3b5);
    assert_eq!(key_for("orders"), Key::from_raw(0xd62d_d5be_u32 as i32));
    assert_eq!(key_for("orders"), key_for("orders"));
    assert_ne!(key_for("orders"), key_for("orders2"));
    let h = name_hash("orders");
    assert_eq!(
        key_for("orders").raw() as u32,
        ((h >> 32) ^ (h & 0xffff_ffff)) as u32
    );
    for i in 0..10_000 {
        assert_ne!(key_for(&format!("n{i}")), Key::PRIVATE);
    }
}

#[test]
fn a_channel_created_by_name_is_opened_by_name_in_another_process() {
    let name = unique("xproc");
    let channel = NamedChannel::builder(&name).spsc(4096).create().unwrap();
    let _g = guard(&channel);
    assert_eq!(channel.segment().key(), key_for(&name));
    assert_eq!(channel.kind(), Kind::Spsc);
    assert_eq!(channel.name(), name);
    let mut tx = channel.sender().unwrap();
    let mut probe = common::spawn_probe(
        &ChannelProbe::NamedRecv {
            name: name.clone(),
            count: 2000,
        },
        ProbeOptions::default(),
    );
    assert_eq!(probe.next_result(), "opened");
    for seq in 0..2000 {
        send_seq(&mut tx, seq).unwrap();
    }
    assert_eq!(probe.finish(), "received 2000");
}

#[test]
fn creating_twice_fails_and_open_or_create_opens_the_same_channel() {
    let name = unique("twice");
    let first = NamedChannel::builder(&name).spsc(1024).create().unwrap();
    let _g = guard(&first);
    let err = NamedChannel::builder(&name)
        .spsc(1024)
        .create()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    let second = NamedChannel::builder(&name)
        .spsc(1 << 16)
        .open_or_create()
        .unwrap();
    assert_eq!(second.segment().id(), first.segment().id());
    let mut tx = first.sender().unwrap();
    let mut rx = second.receiver().unwrap();
    tx.try_send(&message(7)).unwrap();
    assert_eq!(
        rx.try_recv_ref().unwrap().unwrap().to_vec().unwrap(),
        message(7)
    );
    // One sender at a time, whichever handle it comes from.
    assert_eq!(second.sender().unwrap_err().kind(), ErrorKind::Busy);
}

/// Two names (with this test's prefix) whose keys are equal, found by a birthday search.
fn colliding_names(prefix: &str) -> (String, String) {
    let mut seen: HashMap<i32, String> = HashMap::new();
    for i in 0u64.. {
        let name = format!("{prefix}-{i}");
        let key = key_for(&name).raw();
        if let Some(other) = seen.insert(key, name.clone()) {
            return (other, name);
        }
    }
    unreachable!()
}

#[test]
fn two_names_colliding_on_one_key_are_detected() {
    let (a, b) = colliding_names(&unique("collide"));
    assert_ne!(a, b);
    assert_eq!(
        key_for(&a),
        key_for(&b),
        "the search found a real collision"
    );
    assert_ne!(name_hash(&a), name_hash(&b));

    let channel = NamedChannel::builder(&a).spsc(1024).create().unwrap();
    let _g = guard(&channel);
    for (what, result) in [
        ("create", NamedChannel::builder(&b).spsc(1024).create()),
        (
            "open_or_create",
            NamedChannel::builder(&b).spsc(1024).open_or_create(),
        ),
        ("open", NamedChannel::open(&b)),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NameCollision, "{what}: {err}");
        assert!(
            err.to_string().contains(&a),
            "{what}: names the owner: {err}"
        );
    }
    // The owner's channel is untouched and still opens by its own name.
    let again = NamedChannel::open(&a).unwrap();
    assert_eq!(again.segment().id(), channel.segment().id());
}

#[test]
fn bad_names_missing_channels_and_missing_kind() {
    let long = "x".repeat(MAX_NAME + 1);
    for name in ["", long.as_str()] {
        let err = NamedChannel::builder(name).spsc(1024).create().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    let err = NamedChannel::builder(&unique("nokind"))
        .create()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = NamedChannel::builder(&unique("badcap"))
        .spsc(1000)
        .create()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = NamedChannel::open(&unique("missing")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // The longest name is fine.
    let name = format!("{}{}", unique("max"), "y".repeat(MAX_NAME))
        .split_at(MAX_NAME)
        .0
        .to_owned();
    let channel = NamedChannel::builder(&name).spsc(1024).create().unwrap();
    let _g = guard(&channel);
    assert_eq!(NamedChannel::open(&name).unwrap().name(), name);
}

#[test]
fn a_scribbled_name_block_is_an_error() {
    let name = unique("scribble");
    let channel = NamedChannel::builder(&name).spsc(1024).create().unwrap();
    let _g = guard(&channel);
    let region = channel.region();
    let hash = region.atomic_u64(64).unwrap();
    let kind = region.atomic_u32(72).unwrap();
    let len = region.atomic_u32(76).unwrap();
    let size = region.atomic_u64(80).unwrap();
    type Field<'a> = (&'a str, Box<dyn Fn(bool) + 'a>, ErrorKind);
    let good = (
        hash.load(Ordering::Relaxed),
        kind.load(Ordering::Relaxed),
        len.load(Ordering::Relaxed),
        size.load(Ordering::Relaxed),
    );
    let cases: Vec<Field<'_>> = vec![
        (
            "hash",
            Box::new(|bad| hash.store(if bad { good.0 ^ 1 } else { good.0 }, Ordering::Relaxed)),
            ErrorKind::Corrupt,
        ),
        (
            "length 0",
            Box::new(|bad| len.store(if bad { 0 } else { good.2 }, Ordering::Relaxed)),
            ErrorKind::Corrupt,
        ),
        (
            "length huge",
            Box::new(|bad| len.store(if bad { u32::MAX } else { good.2 }, Ordering::Relaxed)),
            ErrorKind::Corrupt,
        ),
        (
            "kind",
            Box::new(|bad| kind.store(if bad { 77 } else { good.1 }, Ordering::Relaxed)),
            ErrorKind::Corrupt,
        ),
        (
            "size",
            Box::new(|bad| size.store(if bad { u64::MAX } else { good.3 }, Ordering::Relaxed)),
            ErrorKind::Corrupt,
        ),
        (
            "magic",
            Box::new(|bad| {
                region
                    .write_at(0, if bad { b"XXXX" } else { b"shmk" })
                    .unwrap()
            }),
            ErrorKind::LayoutMismatch,
        ),
    ];
    for (what, set, want) in &cases {
        set(true);
        let err = NamedChannel::open(&name).unwrap_err();
        assert_eq!(err.kind(), *want, "{what}: {err}");
        set(false);
        NamedChannel::open(&name).unwrap_or_else(|e| panic!("{what} repaired: {e}"));
    }
}

#[test]
fn a_pub_sub_channel_by_name_and_kinds_are_checked() {
    let name = unique("pubsub");
    let channel = NamedChannel::builder(&name)
        .pubsub(16, 64)
        .create()
        .unwrap();
    let _g = guard(&channel);
    assert_eq!(channel.kind(), Kind::PubSub);
    let other = NamedChannel::open(&name).unwrap();
    assert_eq!(other.kind(), Kind::PubSub);
    let mut subscriber = other.subscriber().unwrap();
    let mut publisher = channel.publisher().unwrap();
    publisher.publish(b"by name").unwrap();
    let mut buf = Vec::new();
    let delivery = subscriber.try_recv(&mut buf).unwrap().unwrap();
    assert_eq!((delivery.lost, &buf[..]), (0, &b"by name"[..]));
    // The wrong endpoints and the wrong kind are refused, not misread.
    assert_eq!(
        channel.sender().unwrap_err().kind(),
        ErrorKind::LayoutMismatch
    );
    assert_eq!(
        channel.receiver().unwrap_err().kind(),
        ErrorKind::LayoutMismatch
    );
    let err = NamedChannel::builder(&name)
        .spsc(1024)
        .open_or_create()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LayoutMismatch, "{err}");
    let err = NamedChannel::builder(&unique("badshape"))
        .pubsub(3, 64)
        .create()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn an_mpmc_queue_by_name() {
    let name = unique("mpmc");
    let channel = NamedChannel::builder(&name).mpmc(8, 32).create().unwrap();
    let _g = guard(&channel);
    assert_eq!(channel.kind(), Kind::Mpmc);
    let other = NamedChannel::open(&name).unwrap();
    let mut consumer = other.consumer().unwrap();
    let mut producer = channel.producer().unwrap();
    producer.try_send(b"by name").unwrap();
    let mut buf = [0u8; 32];
    let n = consumer.try_recv(&mut buf).unwrap().unwrap();
    assert_eq!(&buf[..n], b"by name");
    assert_eq!(
        channel.publisher().unwrap_err().kind(),
        ErrorKind::LayoutMismatch
    );
    let err = NamedChannel::builder(&unique("badmpmc"))
        .mpmc(8, 0)
        .create()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

/// Issue 10, item 5: opening a name that no channel has said `shmget(key=0x…)` and not
/// which name the key stands for. The error names the operation and the name, then the
/// kernel's step, and keeps its kind and errno.
#[test]
fn open_of_a_missing_name_names_it() {
    let name = unique("no-such");
    let err = NamedChannel::open(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    assert_eq!(err.call(), "NamedChannel::open", "{err}");
    let text = err.to_string();
    let expected = format!(
        "NamedChannel::open(name={name:?}): shmget(key={}",
        key_for(&name)
    );
    assert!(text.starts_with(&expected), "{text}\nexpected: {expected}…");
}
