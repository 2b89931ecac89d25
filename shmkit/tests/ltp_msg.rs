//! The Linux Test Project's error table for msgget/msgsnd/msgrcv/msgctl, each as its typed
//! error; selectors; removal while blocked; and many senders and receivers in separate
//! processes losing and duplicating nothing.

mod common;

use common::{IpcProbe, ProbeOptions, NOBODY};
use shmkit::{ErrorKind, Key, MessageQueue, RecvOptions, Selector};

#[test]
#[ignore = "helper: run by the other tests as a child process"]
fn probe() {
    common::probe::serve::<IpcProbe>();
}

fn as_nobody() -> ProbeOptions {
    ProbeOptions {
        as_user: Some(NOBODY),
        ..ProbeOptions::default()
    }
}

fn private_queue() -> shmkit::RemoveOnDrop<MessageQueue> {
    MessageQueue::create(Key::PRIVATE).unwrap().remove_on_drop()
}

const NO_WAIT: RecvOptions = RecvOptions::new_no_wait();

// ---- msgget01..03 ----

#[test]
fn msgget_creates_opens_and_maps_its_errors() {
    let q = common::keyed_queue(0o600);
    assert_eq!(MessageQueue::open(q.key()).unwrap().id(), q.id());
    assert_eq!(
        MessageQueue::create(q.key()).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    let key = q.key();
    drop(q);
    let err = MessageQueue::open(key).unwrap_err();
    assert_eq!(
        (err.kind(), err.raw_os_error()),
        (ErrorKind::NotFound, Some(libc::ENOENT))
    );
}

#[test]
fn msgget_eacces_for_nobody_asking_read_or_write() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let q = common::keyed_queue(0o600);
    let key = q.key();
    for mode in [0o400, 0o200, 0o600] {
        assert_eq!(
            common::run_probe(&IpcProbe::MsgOpen { key, mode }, as_nobody()).result(),
            "PermissionDenied"
        );
    }
}

#[test]
fn msgget_enospc_at_msgmni_in_a_private_ipc_namespace() {
    if common::skip_unless_root("make an IPC namespace") {
        return;
    }
    let opts = ProbeOptions {
        new_ipc_namespace: true,
        ..ProbeOptions::default()
    };
    assert_eq!(
        common::run_probe(&IpcProbe::MsgCreateUntilRefused { msgmni: 3 }, opts).result(),
        "LimitExceeded after 3"
    );
}

// ---- msgsnd01, msgsnd02, msgsnd05, msgsnd06 ----

#[test]
fn msgsnd_einval_for_a_bad_type_a_bad_id_or_a_message_past_msgmax() {
    let q = private_queue();
    assert_eq!(
        q.send(0, b"x").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        q.send(-1, b"x").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let max = shmkit::info::msg_limits().unwrap().msgmax as usize;
    assert_eq!(
        q.send(1, &vec![0; max + 1]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    q.send(1, &vec![7; max]).unwrap();
    let m = q.recv_vec(Selector::Any, max, RecvOptions::new()).unwrap();
    assert_eq!((m.mtype, m.data.len(), m.data[max - 1]), (1, max, 7));
    q.remove().unwrap();
    assert_eq!(
        q.send(1, b"x").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn msgsnd_eagain_on_a_full_queue_without_waiting() {
    let q = private_queue();
    q.set_max_bytes(100).unwrap();
    q.try_send(1, &[1; 60]).unwrap();
    assert_eq!(
        q.try_send(1, &[2; 60]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert_eq!(q.stat().unwrap().qnum, 1);
}

#[test]
fn msgsnd_eacces_for_nobody() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let q = common::keyed_queue(0o600);
    assert_eq!(
        common::run_probe(&IpcProbe::MsgSend { key: q.key() }, as_nobody()).result(),
        "PermissionDenied"
    );
}

#[test]
fn removing_a_queue_wakes_a_blocked_sender_with_removed() {
    let q = common::keyed_queue(0o600);
    q.set_max_bytes(1).unwrap();
    q.send(1, b"x").unwrap(); // full
    let sender = common::spawn_probe(
        &IpcProbe::MsgSendBlocking { key: q.key() },
        ProbeOptions::default(),
    );
    let pid = sender.child.id();
    common::wait_until("the sender to block in msgsnd", || {
        common::in_syscall(pid, libc::SYS_msgsnd)
    });
    q.remove().unwrap();
    assert_eq!(sender.finish(), "Removed");
}

// ---- msgrcv01..08 ----

#[test]
fn msgrcv_selectors_pick_the_right_messages() {
    let q = private_queue();
    // type:seq, in sending order
    for (t, seq) in [(3, 0), (1, 1), (2, 2), (3, 3), (1, 4), (5, 5)] {
        q.send(t, format!("{t}:{seq}").as_bytes()).unwrap();
    }
    let mut buf = [0u8; 16];
    let mut take = |sel: Selector| {
        let (t, n) = q.recv_with(sel, &mut buf, NO_WAIT).unwrap();
        (t, String::from_utf8(buf[..n].to_vec()).unwrap())
    };
    assert_eq!(take(Selector::Type(3)), (3, "3:0".into())); // the first of exactly 3
    assert_eq!(take(Selector::UpTo(2)), (1, "1:1".into())); // the lowest type <= 2
    assert_eq!(take(Selector::Except(1)), (2, "2:2".into())); // the first not of type 1
    assert_eq!(take(Selector::Any), (3, "3:3".into())); // the first of all
    assert_eq!(take(Selector::UpTo(10)), (1, "1:4".into()));
    assert_eq!(take(Selector::Type(5)), (5, "5:5".into()));
    assert_eq!(q.stat().unwrap().qnum, 0);
}

#[test]
fn msgrcv_enomsg_without_waiting() {
    let q = private_queue();
    q.send(1, b"one").unwrap();
    let mut buf = [0u8; 8];
    for sel in [Selector::Type(3), Selector::Except(1)] {
        assert_eq!(
            q.recv_with(sel, &mut buf, NO_WAIT).unwrap_err().kind(),
            ErrorKind::NoMessage
        );
    }
    q.recv_with(Selector::UpTo(1), &mut buf, NO_WAIT).unwrap();
    assert_eq!(
        q.recv_with(Selector::Any, &mut buf, NO_WAIT)
            .unwrap_err()
            .kind(),
        ErrorKind::NoMessage
    );
}

#[test]
fn msgrcv_e2big_or_truncation_for_a_message_longer_than_the_buffer() {
    let q = private_queue();
    q.send(4, b"0123456789").unwrap();
    let mut buf = [0u8; 4];
    let err = q.recv_with(Selector::Any, &mut buf, NO_WAIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooBig);
    assert_eq!(q.stat().unwrap().qnum, 1, "the message stays queued");
    let (t, n) = q
        .recv_with(Selector::Any, &mut buf, NO_WAIT.truncate())
        .unwrap();
    assert_eq!((t, &buf[..n]), (4, &b"0123"[..]));
    assert_eq!(q.stat().unwrap().qnum, 0);
}

#[test]
fn msgrcv_einval_for_a_bad_selector_or_id() {
    let q = private_queue();
    let mut buf = [0u8; 4];
    for sel in [Selector::Type(0), Selector::UpTo(-1), Selector::Except(0)] {
        let err = q.recv_with(sel, &mut buf, NO_WAIT).unwrap_err();
        assert_eq!(
            (err.kind(), err.errno()),
            (ErrorKind::InvalidArgument, None)
        );
    }
    q.remove().unwrap();
    assert_eq!(
        q.recv_with(Selector::Any, &mut buf, NO_WAIT)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn msgrcv_eacces_for_nobody() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let q = common::keyed_queue(0o600);
    q.send(1, b"x").unwrap();
    assert_eq!(
        common::run_probe(&IpcProbe::MsgRecv { key: q.key() }, as_nobody()).result(),
        "PermissionDenied"
    );
    assert_eq!(q.stat().unwrap().qnum, 1);
}

#[test]
fn msg_copy_peeks_by_index_without_removing() {
    let q = private_queue();
    q.send(7, b"first").unwrap();
    q.send(8, b"second").unwrap();
    let mut buf = [0u8; 16];
    match q.peek(1, &mut buf) {
        Ok((t, n)) => {
            assert_eq!((t, &buf[..n]), (8, &b"second"[..]));
            assert_eq!(q.stat().unwrap().qnum, 2);
            assert_eq!(
                q.peek(2, &mut buf).unwrap_err().kind(),
                ErrorKind::NoMessage
            );
            let mut small = [0u8; 2];
            assert_eq!(q.peek(0, &mut small).unwrap_err().kind(), ErrorKind::TooBig);
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}"),
    }
}

#[test]
fn removing_a_queue_wakes_a_blocked_receiver_with_removed() {
    let q = common::keyed_queue(0o600);
    let receiver = common::spawn_probe(
        &IpcProbe::MsgRecvBlocking { key: q.key() },
        ProbeOptions::default(),
    );
    let pid = receiver.child.id();
    common::wait_until("the receiver to block in msgrcv", || {
        common::in_syscall(pid, libc::SYS_msgrcv)
    });
    q.remove().unwrap();
    assert_eq!(receiver.finish(), "Removed");
}

// ---- msgctl01..12 ----

#[test]
fn msgctl_stat_set_and_remove() {
    let q = common::keyed_queue(0o640);
    let s = q.stat().unwrap();
    let limits = shmkit::info::msg_limits().unwrap();
    assert_eq!(
        (s.key, s.id, s.mode, s.qnum, s.cbytes),
        (q.key(), q.id(), 0o640, 0, 0)
    );
    assert_eq!(s.qbytes, limits.msgmnb);
    assert_eq!((s.lspid, s.lrpid, s.stime, s.rtime), (0, 0, 0, 0));
    q.send(1, b"hello").unwrap();
    let s = q.stat().unwrap();
    assert_eq!(
        (s.qnum, s.cbytes, s.lspid as u32),
        (1, 5, std::process::id())
    );
    assert!(s.stime > 0);
    q.set_max_bytes(3).unwrap(); // msgctl02: lowering qbytes
    assert_eq!(q.stat().unwrap().qbytes, 3);
    q.set_mode(0o600).unwrap();
    assert_eq!(q.stat().unwrap().mode, 0o600);
    q.remove().unwrap();
    assert_eq!(q.stat().unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn msgctl_eacces_and_eperm_for_nobody() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let q = common::keyed_queue(0o600);
    let key = q.key();
    assert_eq!(
        common::run_probe(&IpcProbe::MsgStat { key }, as_nobody()).result(),
        "PermissionDenied"
    );
    q.set_mode(0o666).unwrap();
    assert_eq!(
        common::run_probe(&IpcProbe::MsgStat { key }, as_nobody()).result(),
        "ok"
    );
    assert_eq!(
        common::run_probe(&IpcProbe::MsgRemove { key }, as_nobody()).result(),
        "NotPermitted"
    );
    assert_eq!(
        common::run_probe(&IpcProbe::MsgSetMode { key }, as_nobody()).result(),
        "NotPermitted"
    );
    assert!(q.stat().is_ok());
}

#[test]
fn raising_qbytes_past_msgmnb_needs_a_capability() {
    if common::skip_unless_root("run a child as nobody") {
        return;
    }
    let q = common::keyed_queue(0o600);
    q.set_owner(NOBODY, NOBODY).unwrap();
    assert_eq!(
        common::run_probe(&IpcProbe::MsgRaiseMaxBytes { key: q.key() }, as_nobody()).result(),
        "NotPermitted"
    );
    // With CAP_SYS_RESOURCE one may (root in a container may lack it).
    let limit = shmkit::info::msg_limits().unwrap().msgmnb;
    const CAP_SYS_RESOURCE: u32 = 24;
    let caps = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    let has_cap = u64::from_str_radix(eff, 16).unwrap() & (1 << CAP_SYS_RESOURCE) != 0;
    match q.set_max_bytes(limit + 1) {
        Ok(()) => {
            assert!(has_cap);
            assert_eq!(q.stat().unwrap().qbytes, limit + 1);
        }
        Err(e) => {
            assert!(!has_cap, "{e}");
            assert_eq!(e.kind(), ErrorKind::NotPermitted);
        }
    }
}

#[test]
fn msgctl_einval_for_a_bad_id() {
    let err = MessageQueue::from_id(shmkit::MsgId::from_raw(i32::MAX)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn listing_and_limits() {
    let q = common::keyed_queue(0o640);
    q.send(3, b"abc").unwrap();
    let stat = q.stat().unwrap();
    for rows in [
        shmkit::info::message_queues().unwrap(),
        shmkit::info::message_queues_from_syscalls().unwrap(),
    ] {
        assert_eq!(rows.iter().find(|r| r.id == q.id()), Some(&stat));
    }
    let limits = shmkit::info::msg_limits().unwrap();
    let read = |n: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/sys/kernel/{n}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(
        (limits.msgmax, limits.msgmnb, limits.msgmni),
        (read("msgmax"), read("msgmnb"), read("msgmni"))
    );
    let usage = shmkit::info::msg_usage().unwrap();
    assert!(usage.queues >= 1 && usage.messages >= 1 && usage.bytes >= 3);
}

#[test]
fn open_or_create_refuses_a_squatted_queue() {
    let q = common::keyed_queue(0o666);
    let err = MessageQueue::builder(q.key())
        .mode(0o600)
        .open_or_create()
        .unwrap_err();
    assert!(matches!(
        err.squatting_reason(),
        Some(shmkit::Squatting::WiderMode {
            mode: 0o666,
            asked: 0o600
        })
    ));
    let ok = MessageQueue::builder(q.key())
        .mode(0o666)
        .open_or_create()
        .unwrap();
    assert_eq!((ok.id(), ok.created()), (q.id(), false));
}

// ---- between processes ----

#[test]
fn round_trips_with_an_echo_process_keep_their_sequence() {
    let q = common::keyed_queue(0o600);
    const N: usize = 500;
    let echo = common::spawn_probe(
        &IpcProbe::MsgEcho {
            key: q.key(),
            count: N,
        },
        ProbeOptions::default(),
    );
    let mut buf = [0u8; 32];
    for seq in 0..N {
        let msg = format!("seq {seq}");
        q.send(1, msg.as_bytes()).unwrap();
        let (t, n) = q.recv(Selector::Type(2), &mut buf).unwrap();
        assert_eq!((t, &buf[..n]), (2, msg.as_bytes()));
    }
    assert_eq!(echo.finish(), "echoed");
    assert_eq!(q.stat().unwrap().qnum, 0);
}

#[test]
fn two_senders_and_two_receivers_per_core_lose_and_duplicate_nothing() {
    let q = common::keyed_queue(0o600);
    let key = q.key();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (senders, receivers) = (2 * cores, 2 * cores);
    const M: usize = 2000;
    let receiving: Vec<_> = (0..receivers)
        .map(|_| common::spawn_probe(&IpcProbe::MsgReceiver { key }, ProbeOptions::default()))
        .collect();
    let sending: Vec<_> = (0..senders)
        .map(|s| {
            common::spawn_probe(
                &IpcProbe::MsgSender {
                    key,
                    id: s,
                    count: M,
                },
                ProbeOptions::default(),
            )
        })
        .collect();
    for s in sending {
        assert_eq!(s.finish(), "sent");
    }
    // Every data message is queued before these: a receiver takes a stop only when no data
    // message is left ahead of it.
    for _ in 0..receivers {
        q.send(999, b"stop").unwrap();
    }
    let mut seen = std::collections::HashMap::new();
    for r in receiving {
        let result = r.finish();
        let got = result.strip_prefix("got ").expect("receiver result");
        for item in got.split(',').filter(|s| !s.is_empty()) {
            *seen.entry(item.to_owned()).or_insert(0) += 1;
        }
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    for s in 0..senders {
        for seq in 0..M {
            assert!(seen.contains_key(&format!("{s}:{seq}")), "lost {s}:{seq}");
        }
    }
    assert_eq!(seen.len(), senders * M);
    assert_eq!(q.stat().unwrap().qnum, 0);
}
