//! The pub-sub channel: in one process, across processes (a publisher process and three
//! subscriber processes, read-only and read-write, every wait mode, with sequence numbers
//! and checksums), slow subscribers and late joiners, the publisher and a subscriber killed,
//! and a scribbler process writing random bytes over the channel.

mod channel_probe;
mod common;

use channel_probe::{check, message, say};
use common::probe::{probe_enum, say_reply, Probe};
use common::ProbeOptions;
use shmkit::channel::pubsub::{self, Check, Publisher, Subscriber, Wakeups};
use shmkit::channel::Wait;
use shmkit::{Access, ErrorKind, Key, ReadOnly, Region, RemoveOnDrop, Segment};
use std::io::Write;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Long enough that a working channel never hits it; a hang fails instead of blocking CI.
const NO_HANG: Duration = Duration::from_secs(30);
/// Offsets from the channel's layout (see `shmkit::channel::pubsub`).
const POLICY: usize = 68;
const HEAD: usize = 128;
const PARKED: usize = 200;
const CONTROL: usize = 512;
/// Slots of 512 bytes hold the largest test message (16 + 300 + 8 bytes); stride 576.
const SLOT: usize = 512;
const STRIDE: usize = 576;
/// The adaptive wait mode of the cross-process tests.
const ADAPTIVE: Wait = Wait::Adaptive { spins: 256 };

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<PubSubProbe>();
}

probe_enum! {
    /// What a pub-sub probe process does with the channel at offset 0 of the test segment
    /// `key`. The endpoints say `opened` once open.
    enum PubSubProbe {
        /// Subscribe over `access` in `wait` mode; when `wait_for_go`, wait for a line on
        /// stdin first; then receive until message `last` and reply a [`Followed`].
        Follow { key: Key, access: Attach, wait: Wait, wait_for_go: bool, last: u64 },
        /// Subscribe over `access`, block for one message, reply `got SEQ CHECK`.
        Park { key: Key, access: Attach },
        /// Become the publisher, publish `count` messages, reply `published up to N`.
        Publish { key: Key, count: u64 },
        /// Become the publisher (taking a dead one's place), say `opened next SEQ`, publish
        /// until killed.
        PublishForever { key: Key },
        /// Say `started`, then write random words over the channel until killed.
        Scribble { key: Key, seed: u64 },
    }
}

probe_enum! {
    /// How a subscriber process attaches the segment.
    #[derive(Copy)]
    enum Attach {
        ReadOnly,
        ReadWrite,
    }
}

probe_enum! {
    /// The reply of [`PubSubProbe::Follow`].
    enum Followed {
        /// Every message up to the last one received (whole, numbered as the channel says)
        /// or counted lost, as the subscriber's own totals say.
        Counted { received: u64, lost: u64 },
        /// What went wrong.
        Failed { why: String },
    }
}

impl Probe for PubSubProbe {
    const FAMILY: &'static str = "PubSubProbe";

    fn run(self) {
        match self {
            PubSubProbe::Follow {
                key,
                access,
                wait,
                wait_for_go,
                last,
            } => subscribe(&segment_of(key), access, wait, wait_for_go, Some(last)),
            PubSubProbe::Park { key, access } => {
                subscribe(&segment_of(key), access, Wait::Block, false, None)
            }
            PubSubProbe::Publish { key, count } => publish(key, count),
            PubSubProbe::PublishForever { key } => publish_forever(key),
            PubSubProbe::Scribble { key, seed } => scribble(key, seed),
        }
    }
}

/// Receives until message `last` arrives, checking each: whole, numbered as the channel
/// says, every message either received or counted lost.
fn follow<R: Deref<Target = Region<A>>, A: Access>(
    sub: &mut Subscriber<R, A>,
    last: u64,
) -> Followed {
    let failed = |why: String| Followed::Failed { why };
    let start = sub.cursor();
    let mut buf = Vec::new();
    let (mut received, mut lost) = (0u64, 0u64);
    let mut expect = start;
    loop {
        let d = match sub.recv_timeout(&mut buf, NO_HANG) {
            Ok(d) => d,
            Err(e) => return failed(format!("recv failed: {e}")),
        };
        if d.seq != expect + d.lost {
            return failed(format!(
                "message {} after {expect} with {} lost",
                d.seq, d.lost
            ));
        }
        if check(&buf) != Ok(d.seq) || d.len != buf.len() {
            return failed(format!(
                "message {} is torn or misnumbered: {:?}",
                d.seq,
                check(&buf)
            ));
        }
        received += 1;
        lost += d.lost;
        expect = d.seq + 1;
        if d.seq == last {
            break;
        }
    }
    if (received, lost) != (sub.received_total(), sub.lost_total()) {
        return failed(format!(
            "counted {received} + {lost}, the subscriber {} + {}",
            sub.received_total(),
            sub.lost_total()
        ));
    }
    Followed::Counted { received, lost }
}

fn segment_of(key: Key) -> Segment {
    Segment::open(key).expect("opening the test segment")
}

/// Waits for a line on stdin (the parent's go-ahead).
fn wait_for_go() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}

/// Publishes `message(seq)` for the next sequence number, alternating the zero-copy and
/// the copying paths.
fn publish_next<R: Deref<Target = Region>>(p: &mut Publisher<R>) -> u64 {
    let seq = p.next_seq();
    let m = message(seq);
    if seq % 2 == 0 {
        let loan = p.loan(m.len()).unwrap();
        assert_eq!(loan.seq(), seq);
        loan.write_at(0, &m).unwrap();
        assert_eq!(loan.commit(), seq);
    } else {
        assert_eq!(p.publish(&m).unwrap(), seq);
    }
    seq
}

/// Receives one message and reports it.
fn once<R: Deref<Target = Region<A>>, A: Access>(sub: &mut Subscriber<R, A>) -> String {
    let mut buf = Vec::new();
    match sub.recv_timeout(&mut buf, NO_HANG) {
        Ok(d) => format!("got {} {:?}", d.seq, check(&buf).map(|_| ())),
        Err(e) => format!("recv failed: {:?}", e.kind()),
    }
}

/// Opens a subscriber over a read-only or read-write attachment, says "opened", waits for
/// the go-ahead when asked, then follows the channel up to message `last` (or receives one
/// message) and reports.
fn subscribe(seg: &Segment, access: Attach, wait: Wait, go: bool, last: Option<u64>) {
    macro_rules! run {
        ($map:expr) => {{
            let map = $map;
            let mut sub = Subscriber::open_in(map.region(), 0).unwrap();
            sub.set_wait(wait).unwrap();
            say("opened");
            if go {
                wait_for_go();
            }
            match last {
                Some(last) => say_reply(&follow(&mut sub, last)),
                None => say(once(&mut sub)),
            }
        }};
    }
    match access {
        Attach::ReadOnly => run!(seg.attach_read_only().unwrap()),
        Attach::ReadWrite => run!(seg.attach().unwrap()),
    }
}

fn publish(key: Key, count: u64) {
    let map = segment_of(key).attach().unwrap();
    let mut p = Publisher::open_in(map.region(), 0).unwrap();
    say("opened");
    for _ in 0..count {
        publish_next(&mut p);
    }
    say(format!("published up to {}", p.next_seq()));
}

fn publish_forever(key: Key) {
    let map = segment_of(key).attach().unwrap();
    let mut p = match Publisher::open_in(map.region(), 0) {
        Ok(p) => p,
        Err(e) => return say(format!("open failed: {:?}", e.kind())),
    };
    say(format!("opened next {}", p.next_seq()));
    loop {
        publish_next(&mut p);
    }
}

fn scribble(key: Key, seed: u64) {
    let map = segment_of(key).attach().unwrap();
    let len = map.len();
    let mut rng = seed | 1;
    say("started");
    loop {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Mostly the control block, sometimes the header or the slots' words.
        let at = match rng % 4 {
            0 | 1 => 64 + (rng >> 8) as usize % (CONTROL - 64),
            2 => (rng >> 8) as usize % 64,
            _ => CONTROL + (rng >> 8) as usize % (len - CONTROL - 8),
        } & !7;
        // Small values as often as wild ones: they pass more of the checks.
        let v = if rng & 0x100 == 0 {
            (rng >> 20) % 4096
        } else {
            rng
        };
        map.atomic_u64(at).unwrap().store(v, Ordering::Relaxed);
        for _ in 0..rng % 64 {
            std::thread::yield_now();
        }
    }
}

/// A keyed segment (so that probes can open it) holding a channel at offset 0.
fn channel_segment(slots: usize, wakeups: Wakeups) -> (RemoveOnDrop<Segment>, Key) {
    let seg = common::keyed_segment(pubsub::size_for(slots, SLOT), 0o600);
    let key = seg.key();
    let map = seg.attach().unwrap();
    pubsub::create_with(map.region(), 0, slots, SLOT, wakeups).unwrap();
    (seg, key)
}

fn private_channel(slots: usize, wakeups: Wakeups) -> RemoveOnDrop<Segment> {
    let seg = common::private_segment(pubsub::size_for(slots, SLOT));
    pubsub::create_with(seg.attach().unwrap().region(), 0, slots, SLOT, wakeups).unwrap();
    seg
}

/// A subscriber's counts; fails the test on a failure it reported.
fn counts(reply: Followed) -> (u64, u64) {
    match reply {
        Followed::Counted { received, lost } => (received, lost),
        failed => panic!("a subscriber reported: {failed:?}"),
    }
}

#[test]
fn loan_commit_sample_and_the_copying_conveniences() {
    let seg = private_channel(4, Wakeups::Parked);
    let map = seg.attach().unwrap();
    let ro = seg.attach_read_only().unwrap();
    let mut p = Publisher::open_in(map.region(), 0).unwrap();
    assert_eq!((p.slots(), p.slot_size(), p.next_seq()), (4, SLOT, 0));
    let mut sub: Subscriber<&Region<ReadOnly>> = Subscriber::open_in(ro.region(), 0).unwrap();
    let mut rw = Subscriber::open_in(map.region(), 0).unwrap();
    assert_eq!(sub.wait_mode(), Wait::Poll);
    assert_eq!(rw.wait_mode(), Wait::default());
    assert!(sub.try_recv_ref().unwrap().is_none());
    assert_eq!(sub.publisher_alive(), Some(true));

    // Zero-copy: claim a slot, write the parts in any order, commit.
    let mut loan = p.loan(8).unwrap();
    assert_eq!((loan.seq(), loan.len(), loan.is_empty()), (0, 8, false));
    for (at, part) in [(4, &b"sub"[..]), (0, b"pub"), (3, b"/")] {
        loan.write_at(at, part).unwrap();
    }
    let past_the_end = loan.write_at(6, b"!!!").unwrap_err();
    assert_eq!(past_the_end.kind(), ErrorKind::OutOfBounds);
    // SAFETY: this test is the only process that maps the segment, and no subscriber reads
    // this slot now.
    unsafe { loan.as_mut_slice()[7] = b'!' };
    assert_eq!(loan.commit(), 0);
    assert_eq!(p.publish(b"copied").unwrap(), 1);
    assert_eq!(p.publish(b"").unwrap(), 2);
    assert_eq!(p.loan(SLOT + 1).unwrap_err().kind(), ErrorKind::TooBig);
    assert_eq!(p.publish(&[0; SLOT]).unwrap(), 3);

    // Read in place, each read validated.
    let sample = sub.recv_ref().unwrap();
    assert_eq!((sample.seq(), sample.lost(), sample.len()), (0, 0, 8));
    let mut tail = [0u8; 5];
    assert_eq!(sample.read_at(3, &mut tail).unwrap(), Check::Intact);
    assert_eq!(&tail, b"/sub!");
    let past_the_end = sample.read_at(4, &mut tail).unwrap_err();
    assert_eq!(past_the_end.kind(), ErrorKind::OutOfBounds);
    drop(sample);
    let mut buf = vec![1, 2, 3];
    let d = sub.recv(&mut buf).unwrap();
    assert_eq!(
        (d.seq, d.len, d.lost, buf.as_slice()),
        (1, 6, 0, &b"copied"[..])
    );
    assert_eq!(sub.recv_timeout(&mut buf, NO_HANG).unwrap().len, 0);
    assert!(buf.is_empty());
    assert_eq!(sub.try_recv(&mut buf).unwrap().unwrap().len, SLOT);
    assert!(sub.try_recv(&mut buf).unwrap().is_none());
    assert_eq!(
        (sub.received_total(), sub.lost_total(), sub.cursor()),
        (4, 0, 4)
    );
    // The read-write subscriber has its own cursor: it gets all four too.
    for want in 0..4 {
        assert_eq!(rw.recv(&mut buf).unwrap().seq, want);
    }
    // A sample read while its slot is overwritten: Overwritten, counted lost, reported
    // with the next delivery. (The ring holds 4: messages 4..8 overwrite 0..4.)
    p.publish(b"four").unwrap();
    let sample = sub.recv_ref().unwrap();
    assert_eq!(sample.seq(), 4);
    for _ in 0..4 {
        p.publish(b"lap").unwrap();
    }
    assert_eq!(sample.copy_into(&mut buf).unwrap(), Check::Overwritten);
    assert_eq!(sample.check(), Check::Overwritten);
    drop(sample);
    let d = sub.recv(&mut buf).unwrap();
    assert_eq!((d.seq, d.lost, sub.lost_total()), (5, 1, 1));
    drop(p);
    assert_eq!(sub.publisher_alive(), None);
}

#[test]
fn shapes_places_and_endpoints_are_checked() {
    let seg = common::private_segment(pubsub::size_for(8, 64));
    let map = seg.attach().unwrap();
    assert_eq!(
        Subscriber::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::NotInitialised
    );
    for (slots, size) in [
        (0, 64),
        (3, 64),
        (1, 64),
        (8, 0),
        (8, 12),
        (8, (1 << 20) + 8),
    ] {
        assert_eq!(
            pubsub::create_in(map.region(), 0, slots, size)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument,
            "{slots} slots of {size}"
        );
    }
    assert_eq!(
        pubsub::create_in(map.region(), 0, 16, 64)
            .unwrap_err()
            .kind(),
        ErrorKind::OutOfBounds
    );
    assert_eq!(pubsub::create_over(map.region(), 64).unwrap(), 8);
    assert_eq!(pubsub::slots_for(pubsub::size_for(8, 64) - 1, 64), Some(4));
    assert_eq!(
        pubsub::create_in(map.region(), 0, 8, 64)
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    let p = Publisher::open_in(map.region(), 0).unwrap();
    assert_eq!(
        Publisher::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Busy
    );
    drop(p);
    let _p = Publisher::open_in(map.region(), 0).unwrap();
    // Read-write subscribers register, up to 64 at once; read-only ones need no entry.
    let mut subs: Vec<_> = (0..pubsub::MAX_REGISTERED)
        .map(|_| Subscriber::open_in(map.region(), 0).unwrap())
        .collect();
    assert_eq!(
        Subscriber::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::LimitExceeded
    );
    let ro = seg.attach_read_only().unwrap();
    let mut ro_sub = Subscriber::open_in(ro.region(), 0).unwrap();
    assert_eq!(
        ro_sub.set_wait(Wait::Block).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    subs.pop();
    Subscriber::open_in(map.region(), 0).unwrap();
}

#[test]
fn every_wait_mode_times_out() {
    for wakeups in [Wakeups::Parked, Wakeups::Always] {
        let seg = private_channel(8, wakeups);
        let map = seg.attach().unwrap();
        let ro = seg.attach_read_only().unwrap();
        let _p = Publisher::open_in(map.region(), 0).unwrap();
        let mut rw = Subscriber::open_in(map.region(), 0).unwrap();
        let mut sub = Subscriber::open_in(ro.region(), 0).unwrap();
        let mut buf = Vec::new();
        for wait in [
            Wait::Poll,
            Wait::Block,
            Wait::Adaptive { spins: 100 },
            Wait::default(),
        ] {
            rw.set_wait(wait).unwrap();
            assert_eq!(rw.wait_mode(), wait);
            let err = rw.recv_ref_timeout(Duration::from_millis(20)).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::TimedOut,
                "{wakeups:?} {wait:?}: {err}"
            );
            if wait == Wait::Poll || wakeups == Wakeups::Always {
                sub.set_wait(wait).unwrap();
                let err = sub
                    .recv_timeout(&mut buf, Duration::from_millis(20))
                    .unwrap_err();
                assert_eq!(
                    err.kind(),
                    ErrorKind::TimedOut,
                    "{wakeups:?} {wait:?}: {err}"
                );
            }
        }
    }
}

/// A publisher process and three subscriber processes (read-only and read-write, every wait
/// mode, under both wake-up policies): each subscriber sees increasing sequence numbers,
/// whole messages, and accounts for every message: received + lost == published.
#[test]
fn three_subscriber_processes_account_for_every_message() {
    const N: u64 = 30_000;
    let cases = [
        (
            Wakeups::Parked,
            [
                (Attach::ReadOnly, Wait::Poll),
                (Attach::ReadWrite, Wait::Block),
                (Attach::ReadWrite, ADAPTIVE),
            ],
        ),
        (
            Wakeups::Always,
            [
                (Attach::ReadOnly, Wait::Block),
                (Attach::ReadOnly, ADAPTIVE),
                (Attach::ReadWrite, Wait::Poll),
            ],
        ),
    ];
    for (wakeups, subs) in cases {
        let (_seg, key) = channel_segment(64, wakeups);
        let mut probes: Vec<_> = subs
            .iter()
            .map(|&(access, wait)| {
                let follow = PubSubProbe::Follow {
                    key,
                    access,
                    wait,
                    wait_for_go: false,
                    last: N - 1,
                };
                common::spawn_probe(&follow, ProbeOptions::default())
            })
            .collect();
        for probe in &mut probes {
            assert_eq!(probe.next_result(), "opened");
        }
        let mut publisher = common::spawn_probe(
            &PubSubProbe::Publish { key, count: N },
            ProbeOptions::default(),
        );
        assert_eq!(publisher.next_result(), "opened");
        for (probe, sub) in probes.into_iter().zip(subs) {
            let (received, lost) = counts(probe.finish_reply());
            assert_eq!(received + lost, N, "{wakeups:?} {sub:?}");
            assert!(received > 0);
            eprintln!("{wakeups:?} {sub:?}: received {received}, lost {lost}");
        }
        assert_eq!(publisher.finish(), format!("published up to {N}"));
    }
}

/// A subscriber process that does not read while the publisher publishes ten laps: every
/// publish succeeds at once (the publisher never waits for it), and the subscriber then
/// learns exactly how many messages it lost.
#[test]
fn a_slow_subscriber_loses_messages_and_never_holds_the_publisher_back() {
    const SLOTS: u64 = 32;
    const N: u64 = 10 * SLOTS;
    for access in [Attach::ReadOnly, Attach::ReadWrite] {
        let (seg, key) = channel_segment(SLOTS as usize, Wakeups::Parked);
        let map = seg.attach().unwrap();
        let mut p = Publisher::open_in(map.region(), 0).unwrap();
        let mut probe = common::spawn_probe(
            &PubSubProbe::Follow {
                key,
                access,
                wait: Wait::Poll,
                wait_for_go: true,
                last: N - 1,
            },
            ProbeOptions::default(),
        );
        assert_eq!(probe.next_result(), "opened");
        for want in 0..N {
            assert_eq!(publish_next(&mut p), want);
        }
        let stdin = probe.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
        // Lapped at message 0 (its slot holds N - SLOTS, head is N): the subscriber jumps to
        // N - SLOTS + 1, leaving the slot the publisher writes next.
        let (received, lost) = counts(probe.finish_reply());
        assert_eq!((received, lost), (SLOTS - 1, N - SLOTS + 1), "{access:?}");
    }
}

#[test]
fn late_joiners_get_the_last_k_messages() {
    const SLOTS: u64 = 32;
    let seg = private_channel(SLOTS as usize, Wakeups::Parked);
    let map = seg.attach().unwrap();
    let ro = seg.attach_read_only().unwrap();
    let mut p = Publisher::open_in(map.region(), 0).unwrap();
    let mut buf = Vec::new();
    let mut joins = |published: u64, k: u64, want_first: u64| {
        let mut sub = Subscriber::open_last(ro.region(), 0, k).unwrap();
        assert_eq!(sub.cursor(), want_first, "k {k} after {published}");
        for want in want_first..published {
            let d = sub.try_recv(&mut buf).unwrap().expect("a message");
            assert_eq!((d.seq, d.lost, check(&buf)), (want, 0, Ok(want)));
        }
        assert!(sub.try_recv(&mut buf).unwrap().is_none());
    };
    for _ in 0..10 {
        publish_next(&mut p);
    }
    joins(10, 0, 10);
    joins(10, 3, 7);
    joins(10, 10, 0);
    joins(10, 20, 0);
    for _ in 10..100 {
        publish_next(&mut p);
    }
    for k in [1, 5, SLOTS - 1, SLOTS] {
        joins(100, k, 100 - k);
    }
    // The ring holds SLOTS messages: asking for more gets those.
    joins(100, SLOTS + 1, 100 - SLOTS);
    joins(100, 1000, 100 - SLOTS);
}

/// Whether a thread of probe `pid` other than its main thread (which waits in `futex()`
/// for the test thread) is inside `futex()`.
fn parked_in_futex(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        t.file_name().to_str() != Some(&pid.to_string())
            && std::fs::read_to_string(t.path().join("syscall")).is_ok_and(|text| {
                text.split_whitespace().next() == Some(&libc::SYS_futex.to_string())
            })
    })
}

/// A subscriber in another process parked in `futex()` is woken by a publish: a read-write
/// one under `Wakeups::Parked` (its parked bit), a read-only one under `Wakeups::Always`.
#[test]
fn a_parked_subscriber_in_another_process_is_woken() {
    for (wakeups, access) in [
        (Wakeups::Parked, Attach::ReadWrite),
        (Wakeups::Always, Attach::ReadOnly),
    ] {
        let (seg, key) = channel_segment(8, wakeups);
        let map = seg.attach().unwrap();
        let mut p = Publisher::open_in(map.region(), 0).unwrap();
        let mut probe =
            common::spawn_probe(&PubSubProbe::Park { key, access }, ProbeOptions::default());
        assert_eq!(probe.next_result(), "opened");
        let pid = probe.child.id();
        common::wait_until("the subscriber parks in futex()", || {
            parked_in_futex(pid) && (wakeups == Wakeups::Always || p.parked() == 1)
        });
        publish_next(&mut p);
        assert_eq!(probe.finish(), "got 0 Ok(())", "{access:?}");
    }
}

/// The publisher process is killed again and again while it publishes: subscribers (one
/// read-write, one read-only) receive whole messages and account for every one, then get
/// `PeerDied`; a new publisher continues the sequence where the dead one stopped.
#[test]
fn publisher_killed_subscribers_get_peer_died_and_a_new_publisher_continues() {
    const ROUNDS: usize = 50;
    let (seg, key) = channel_segment(1024, Wakeups::Parked);
    let map = seg.attach().unwrap();
    let ro = seg.attach_read_only().unwrap();
    let mut rw = Subscriber::open_in(map.region(), 0).unwrap();
    rw.set_wait(Wait::Adaptive { spins: 1024 }).unwrap();
    let mut sub = Subscriber::open_in(ro.region(), 0).unwrap();
    let mut buf = Vec::new();
    let mut rng = common::random_u64() | 1;
    for round in 0..ROUNDS {
        let mut probe = common::spawn_probe(
            &PubSubProbe::PublishForever { key },
            ProbeOptions::default(),
        );
        // The new publisher starts where both subscribers are: after everything published.
        assert_eq!(
            probe.next_result(),
            format!("opened next {}", rw.cursor()),
            "round {round}"
        );
        assert_eq!(sub.cursor(), rw.cursor());
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        for _ in 0..rng % 2000 {
            let d = rw.recv_timeout(&mut buf, NO_HANG).unwrap();
            assert_eq!(check(&buf), Ok(d.seq), "round {round}");
        }
        probe.kill();
        fn drain<R: Deref<Target = Region<A>>, A: Access>(
            s: &mut Subscriber<R, A>,
            buf: &mut Vec<u8>,
        ) {
            loop {
                match s.recv_timeout(buf, NO_HANG) {
                    Ok(d) => assert_eq!(check(buf), Ok(d.seq)),
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::PeerDied, "{e}");
                        break;
                    }
                }
            }
            assert_eq!(s.publisher_alive(), Some(false));
        }
        drain(&mut rw, &mut buf);
        drain(&mut sub, &mut buf);
        assert_eq!(sub.cursor(), rw.cursor());
        for s in [
            (rw.received_total(), rw.lost_total()),
            (sub.received_total(), sub.lost_total()),
        ] {
            assert_eq!(s.0 + s.1, rw.cursor(), "round {round}");
        }
    }
    assert!(rw.received_total() > 0 && sub.received_total() > 0);
}

/// A read-write subscriber killed while parked: its parked bit is cleared by the next
/// publishes, which all succeed; a new subscriber takes its table entry.
#[test]
fn a_killed_subscriber_leaks_nothing_and_the_publisher_goes_on() {
    let (seg, key) = channel_segment(8, Wakeups::Parked);
    let map = seg.attach().unwrap();
    let mut p = Publisher::open_in(map.region(), 0).unwrap();
    let mut probe = common::spawn_probe(
        &PubSubProbe::Park {
            key,
            access: Attach::ReadWrite,
        },
        ProbeOptions::default(),
    );
    assert_eq!(probe.next_result(), "opened");
    let pid = probe.child.id();
    common::wait_until("the subscriber parks in futex()", || {
        parked_in_futex(pid) && p.parked() == 1
    });
    probe.kill();
    for want in 0..100 {
        assert_eq!(publish_next(&mut p), want);
    }
    assert_eq!(p.parked(), 0);
    assert_eq!(map.load_u64(PARKED, Ordering::SeqCst).unwrap(), 0);
    // All 64 entries can be taken again (the dead subscriber's included).
    let subs: Vec<_> = (0..pubsub::MAX_REGISTERED)
        .map(|_| Subscriber::open_in(map.region(), 0).unwrap())
        .collect();
    assert_eq!(subs.len(), 64);
}

fn put_u64(map: &shmkit::Attachment, at: usize, v: u64) {
    map.atomic_u64(at).unwrap().store(v, Ordering::SeqCst);
}

#[test]
fn scribbled_words_are_corrupt_errors() {
    let seg = private_channel(8, Wakeups::Parked);
    let map = seg.attach().unwrap();
    let mut p = Publisher::open_in(map.region(), 0).unwrap();
    let mut sub = Subscriber::open_in(map.region(), 0).unwrap();
    let mut buf = Vec::new();
    p.publish(b"first").unwrap();
    // Message 0's length word past the slot size, with a stable stamp.
    put_u64(&map, CONTROL + 8, SLOT as u64 + 1);
    assert_eq!(
        sub.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    put_u64(&map, CONTROL + 8, 5);
    // Stamps of a later lap that name a message of another slot, or past 2^62.
    // (Message 1 is in slot 1, message 9 in slot 1 too: both wrong for slot 0.)
    for stamp in [4, 2 * 9 + 1, u64::MAX] {
        put_u64(&map, CONTROL, stamp);
        assert_eq!(
            sub.try_recv(&mut buf).unwrap_err().kind(),
            ErrorKind::Corrupt,
            "stamp {stamp}"
        );
    }
    // A stamp that is not ours yet: nothing to receive.
    put_u64(&map, CONTROL, 0);
    assert!(sub.try_recv(&mut buf).unwrap().is_none());
    put_u64(&map, CONTROL, 2);
    assert_eq!(sub.try_recv(&mut buf).unwrap().unwrap().seq, 0);
    assert_eq!(buf, b"first");
    // A later lap in the right slot with head past 2^62.
    p.publish(b"second").unwrap();
    put_u64(&map, CONTROL + STRIDE, 2 * 9 + 2);
    put_u64(&map, HEAD, u64::MAX);
    assert_eq!(
        sub.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    drop(p);
    assert_eq!(
        Publisher::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!(
        Subscriber::open_in(map.region(), 0).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    put_u64(&map, HEAD, 2);
    Publisher::open_in(map.region(), 0).unwrap();
    // The policy word, the shape and the magic: each scribble is refused at open, and
    // the channel opens again once it is undone.
    let open_error = || Subscriber::open_in(map.region(), 0).err().map(|e| e.kind());
    let scribbles = [
        (POLICY, 7, ErrorKind::Corrupt),
        // 16 slots would reach past the segment; 3 is not a power of two.
        (64, 16, ErrorKind::OutOfBounds),
        (64, 3, ErrorKind::LayoutMismatch),
        // Another slot size makes another total size.
        (24, SLOT as u32 - 64, ErrorKind::LayoutMismatch),
    ];
    for (at, value, kind) in scribbles {
        let saved = map.load_u32(at, Ordering::SeqCst).unwrap();
        map.write_at(at, &value.to_ne_bytes()).unwrap();
        assert_eq!(open_error(), Some(kind), "{value} at {at}");
        map.write_at(at, &saved.to_ne_bytes()).unwrap();
        assert_eq!(open_error(), None);
    }
    map.write_at(0, b"garbage!").unwrap();
    assert_eq!(open_error(), Some(ErrorKind::LayoutMismatch));
}

/// A scribbler process writes random words over the header, the control block and the
/// slots while a publisher and two subscribers (read-write and read-only, every wait mode,
/// short timeouts) keep going: only errors or garbage bytes, no crash, no hang. Ten rounds
/// on fresh channels, from a sparse scribbler to a dense one.
#[test]
fn a_scribbler_process_gives_only_errors() {
    let (mut received, mut errors) = (0u64, 0u64);
    for round in 0..10u64 {
        let (seg, key) = channel_segment(16, Wakeups::Always);
        let map = seg.attach().unwrap();
        let ro = seg.attach_read_only().unwrap();
        let mut p = Publisher::open_in(map.region(), 0).unwrap();
        let mut rw = Subscriber::open_in(map.region(), 0).unwrap();
        let mut sub = Subscriber::open_in(ro.region(), 0).unwrap();
        let seed = common::random_u64();
        let mut scribbler = common::spawn_probe(
            &PubSubProbe::Scribble { key, seed },
            ProbeOptions::default(),
        );
        assert_eq!(scribbler.next_result(), "started");
        let modes = [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 16 }];
        let (mut buf_rw, mut buf_ro) = (Vec::new(), Vec::new());
        for i in 0..300 + 100 * round as usize {
            let _ = p.publish(&message(i as u64));
            let _ = rw.set_wait(modes[i % 3]);
            let _ = sub.set_wait(modes[(i + 1) % 3]);
            // One buffer each: both receives run before their results are checked.
            for (r, buf) in [
                (
                    rw.recv_timeout(&mut buf_rw, Duration::from_micros(200)),
                    &buf_rw,
                ),
                (
                    sub.recv_timeout(&mut buf_ro, Duration::from_micros(200)),
                    &buf_ro,
                ),
            ] {
                match r {
                    Ok(d) => {
                        assert!(d.len <= SLOT && buf.len() == d.len, "{d:?}, {}", buf.len());
                        received += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
            if i % 50 == 49 {
                // Opening again, whatever the scribbler did: errors or endpoints.
                let _ = Subscriber::open_in(ro.region(), 0).map(|s| sub = s);
            }
        }
        scribbler.kill();
    }
    eprintln!("scribbled: {received} receives returned data, {errors} errors");
    assert!(received + errors > 0);
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    child.id()
}

/// A publisher that died in the middle of a write (its slot's stamp left odd) or between a
/// commit and the store of `head`: subscribers get what it committed, then `PeerDied`; a
/// new publisher writes the unfinished message again under its number, or counts the
/// unrecorded commit, and the sequence goes on without a gap.
#[test]
fn a_new_publisher_continues_after_a_death_mid_write_or_mid_commit() {
    const PUBLISHER_PID: usize = 72;
    let seg = private_channel(8, Wakeups::Parked);
    let map = seg.attach().unwrap();
    let mut sub = Subscriber::open_in(map.region(), 0).unwrap();
    let mut buf = Vec::new();
    let mut p = Publisher::open_in(map.region(), 0).unwrap();
    for _ in 0..3 {
        publish_next(&mut p);
    }
    // Message 3 half written (stamp 2 * 3 + 1), then the publisher "dies".
    p.loan(10).unwrap().write_at(0, b"half").unwrap();
    drop(p);
    map.write_at(PUBLISHER_PID, &dead_pid().to_ne_bytes())
        .unwrap();
    for want in 0..3 {
        assert_eq!(sub.recv_timeout(&mut buf, NO_HANG).unwrap().seq, want);
    }
    let err = sub.recv_timeout(&mut buf, NO_HANG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PeerDied, "{err}");
    let mut p = Publisher::open_in(map.region(), 0).unwrap();
    assert_eq!(p.next_seq(), 3);
    publish_next(&mut p);
    // Message 4 committed, but head rolled back to 4 as if the store had not happened.
    publish_next(&mut p);
    drop(p);
    map.atomic_u64(HEAD).unwrap().store(4, Ordering::SeqCst);
    let late = Subscriber::open_last(map.region(), 0, 1).unwrap();
    assert_eq!(late.cursor(), 4);
    let mut p = Publisher::open_in(map.region(), 0).unwrap();
    assert_eq!(p.next_seq(), 5);
    publish_next(&mut p);
    for want in 3..6 {
        let d = sub.recv_timeout(&mut buf, NO_HANG).unwrap();
        assert_eq!((d.seq, d.lost, check(&buf)), (want, 0, Ok(want)));
    }
}

fn get_u64(map: &shmkit::Attachment, at: usize) -> u64 {
    map.atomic_u64(at).unwrap().load(Ordering::SeqCst)
}

/// Issue 10, pub-sub: a stamp of a far later lap in the right slot (below 2^62) moved the
/// subscriber's cursor there, counting ~2^43 messages lost, and the subscriber then waited
/// for messages that were not coming (until the timeout; forever without one); a `head`
/// scribbled behind the cursor went unnoticed. Now a stamp must not name a message past
/// `head` (a publisher stores `head = m` before it stamps message `m`), and a waiting
/// subscriber checks that its cursor is at most `head + 1`: `Corrupt`, read-write and
/// read-only subscribers alike.
#[test]
fn a_stamp_past_head_or_a_head_behind_the_cursor_is_corrupt() {
    const SLOTS: usize = 8;
    let seg = private_channel(SLOTS, Wakeups::Always);
    let map = seg.attach().unwrap();
    let ro = seg.attach_read_only().unwrap();
    let mut p = Publisher::open_in(map.region(), 0).unwrap();
    let mut rw_sub = Subscriber::open_in(map.region(), 0).unwrap();
    let mut ro_sub = Subscriber::open_in(ro.region(), 0).unwrap();
    let mut buf = Vec::new();
    for i in 0..3u8 {
        p.publish(&[i]).unwrap();
        assert_eq!(
            rw_sub.try_recv(&mut buf).unwrap().unwrap().seq,
            u64::from(i)
        );
        assert_eq!(
            ro_sub.try_recv(&mut buf).unwrap().unwrap().seq,
            u64::from(i)
        );
    }
    // Slot 3 (message 3 is next) stamped with message 3 + 8 * 2^40, committed.
    let far = 3 + SLOTS as u64 * (1 << 40);
    let stamp = CONTROL + 3 * STRIDE;
    put_u64(&map, stamp, 2 * far + 2);
    assert_eq!(
        rw_sub.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!(
        ro_sub.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!((rw_sub.cursor(), ro_sub.lost_total()), (3, 0), "no jump");
    put_u64(&map, stamp, 0);
    // head behind the cursor (3 > 1 + 1), every wait mode.
    put_u64(&map, HEAD, 1);
    for wait in [Wait::Poll, Wait::Block, Wait::Adaptive { spins: 16 }] {
        for sub in [&mut rw_sub as &mut dyn Recv, &mut ro_sub] {
            let err = sub.recv_timeout_in(wait, &mut buf).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{wait:?}: {err}");
        }
    }
    // Restored, both go on.
    put_u64(&map, HEAD, 3);
    assert_eq!(get_u64(&map, HEAD), p.next_seq());
    p.publish(b"three").unwrap();
    for sub in [&mut rw_sub as &mut dyn Recv, &mut ro_sub] {
        let d = sub.recv_timeout_in(Wait::Poll, &mut buf).unwrap();
        assert_eq!((d.seq, d.lost, &buf[..]), (3, 0, &b"three"[..]));
    }
}

/// A receive with a 100 ms timeout in a wait mode, for subscribers over either access.
trait Recv {
    fn recv_timeout_in(
        &mut self,
        wait: Wait,
        buf: &mut Vec<u8>,
    ) -> shmkit::Result<pubsub::Delivery>;
}

impl<R: Deref<Target = Region<A>>, A: Access> Recv for Subscriber<R, A> {
    fn recv_timeout_in(
        &mut self,
        wait: Wait,
        buf: &mut Vec<u8>,
    ) -> shmkit::Result<pubsub::Delivery> {
        self.set_wait(wait)?;
        self.recv_timeout(buf, Duration::from_millis(100))
    }
}
