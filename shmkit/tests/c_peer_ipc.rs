//! Interoperability of semaphore sets and message queues with a real C program (compiled
//! here with the system's C compiler): the same path and project id give the same key, and
//! what one side creates and writes the other opens by key, reads and checks, in both
//! directions, including a blocking handoff.
//!
//! The peer is `tests/peers/ipc_peer.c`; the shared conventions are in `tests/interop`.

mod common;
mod interop;

use interop::{LivePeer, PeerOutput};
use shmkit::{Key, MessageQueue, SemOp, SemaphoreSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn c_peer() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| interop::build_c("ipc_peer.c"))
}

fn c(command: &str, dir: &Path, proj: i32, args: &[&str]) -> Command {
    let mut cmd = Command::new(c_peer());
    cmd.arg(command).arg(dir).arg(proj.to_string()).args(args);
    cmd
}

fn run_c(command: &str, dir: &Path, proj: i32, args: &[&str]) -> PeerOutput {
    interop::run(&format!("C peer {command}"), c(command, dir, proj, args))
}

fn id_of(out: &PeerOutput) -> i32 {
    out.field("id")[0].parse().expect("the peer prints its id")
}

fn our_pid() -> i32 {
    std::process::id() as i32
}

#[test]
fn c_and_rust_compute_the_same_ftok_keys() {
    let dir = common::TempDir::new("cipc-ftok");
    for proj in [1, 65, 128, 255, 256] {
        let out = run_c("ftok", dir.path(), proj, &[]);
        out.assert_ok();
        assert_eq!(
            out.key(),
            Key::ftok(dir.path(), proj).unwrap(),
            "proj {proj}"
        );
    }
}

// --------------------------------------------------------------------------- semaphores

#[test]
fn sem_c_creates_and_operates_rust_reads() {
    let dir = common::TempDir::new("cipc-sem-c2r");
    let (_, key, (out, set)) = interop::peer_creates(dir.path(), 67, |proj, key| {
        let out = run_c("sem-create", dir.path(), proj, &["5", "0", "7", "32767"]);
        if out.key_taken() {
            return None;
        }
        // Guard whatever the peer made before looking at what it said.
        Some((
            out,
            SemaphoreSet::open(key).map(SemaphoreSet::remove_on_drop),
        ))
    });
    out.assert_ok();
    assert_eq!(out.key(), key);
    let set = set.unwrap();
    assert_eq!(set.id().raw(), id_of(&out));
    let stat = set.stat().unwrap();
    assert_eq!((stat.key, stat.nsems, stat.mode), (key, 4, 0o600));
    // SETALL 5 0 7 32767, then {0,-2},{1,+3} in one semop; {2,-1} had SEM_UNDO: 6 while
    // the peer ran, 7 again after the kernel undid it at the peer's exit.
    assert_eq!(out.field("value2"), ["6"]);
    assert_eq!(set.values().unwrap(), [3, 3, 7, 32767]);
    assert_eq!(set.value(3).unwrap(), 32767);
    assert_eq!(set.last_pid(0).unwrap(), out.pid());
    assert_eq!(set.waiting_for_increase(0).unwrap(), 0);
    assert_eq!(set.waiting_for_zero(0).unwrap(), 0);

    // And it is ours to use: a batch across semaphores, all or nothing.
    set.op(&[SemOp::new(0, -3), SemOp::new(3, -32767), SemOp::new(1, 1)])
        .unwrap();
    assert_eq!(set.values().unwrap(), [0, 4, 7, 0]);
}

#[test]
fn sem_rust_creates_c_checks_and_operates() {
    let dir = common::TempDir::new("cipc-sem-r2c");
    let (proj, key, set) = interop::create_fresh(dir.path(), 82, |key| {
        SemaphoreSet::builder(key)
            .count(3)
            .create()
            .map(SemaphoreSet::remove_on_drop)
    });
    set.set_values(&[4, 0, 1000]).unwrap();
    let out = run_c("sem-check", dir.path(), proj, &["4", "0", "1000"]);
    out.assert_ok();
    assert_eq!(out.key(), key);
    assert_eq!(id_of(&out), set.id().raw());
    // The peer's batch {0,-1},{1,+2}; its impossible batch changed nothing.
    assert_eq!(out.field("values"), ["3", "2", "1000"]);
    assert_eq!(set.values().unwrap(), [3, 2, 1000]);
    assert_eq!(set.last_pid(1).unwrap(), out.pid());
}

#[test]
fn sem_c_sees_wrong_values() {
    // The peer's check is real: one value off and it says which, changing nothing.
    let dir = common::TempDir::new("cipc-sem-bad");
    let (proj, _, set) = interop::create_fresh(dir.path(), 9, |key| {
        SemaphoreSet::builder(key)
            .count(3)
            .create()
            .map(SemaphoreSet::remove_on_drop)
    });
    set.set_values(&[4, 0, 1000]).unwrap();
    let out = run_c("sem-check", dir.path(), proj, &["4", "0", "1001"]);
    assert_eq!(out.code(), Some(interop::EXIT_MISMATCH), "{out:?}");
    assert!(
        out.stderr.contains("semaphore 2 is 1000, expected 1001"),
        "{}",
        out.stderr
    );
    assert_eq!(set.values().unwrap(), [4, 0, 1000]);
}

#[test]
fn sem_handoff_c_waits_until_rust_releases() {
    let dir = common::TempDir::new("cipc-sem-wait");
    let (proj, key, set) = interop::create_fresh(dir.path(), 105, |key| {
        SemaphoreSet::builder(key)
            .count(2)
            .create()
            .map(SemaphoreSet::remove_on_drop)
    });
    // If the peer dies, removing the set ends our wait for it to block.
    let on_failure = {
        let set = (*set).clone();
        move |_: &[String]| {
            let _ = set.remove();
        }
    };
    let mut peer = LivePeer::spawn(
        "C peer sem-wait",
        c("sem-wait", dir.path(), proj, &[]),
        on_failure,
    );
    assert_eq!(peer.key(), key);
    peer.expect("waiting");
    // The kernel's own count says when the peer is blocked in semop.
    while peer.check(set.waiting_for_increase(0), "GETNCNT") == 0 {
        std::thread::yield_now();
    }
    // Release two at once, and semaphore 1 in the same batch: the peer takes one.
    set.op(&[SemOp::new(0, 2), SemOp::new(1, 1)]).unwrap();
    assert_eq!(peer.expect("acquired"), ["1"]);
    let pid = peer.pid();
    peer.finish();
    assert_eq!(set.values().unwrap(), [1, 1]);
    assert_eq!(set.last_pid(0).unwrap(), pid);
    assert_eq!(set.last_pid(1).unwrap(), our_pid());
}

// ------------------------------------------------------------------------ message queues

#[test]
fn msg_c_sends_rust_receives_by_selector() {
    let dir = common::TempDir::new("cipc-msg-c2r");
    let (_, key, (out, queue)) = interop::peer_creates(dir.path(), 73, |proj, key| {
        let out = run_c("msg-send", dir.path(), proj, &[]);
        if out.key_taken() {
            return None;
        }
        Some((
            out,
            MessageQueue::open(key).map(MessageQueue::remove_on_drop),
        ))
    });
    out.assert_ok();
    assert_eq!(out.key(), key);
    let queue = queue.unwrap();
    assert_eq!(queue.id().raw(), id_of(&out));
    assert_eq!(out.field("sent"), [interop::MESSAGES.len().to_string()]);
    let stat = queue.stat().unwrap();
    assert_eq!(stat.mode, 0o600);
    assert_eq!(stat.qnum as usize, interop::MESSAGES.len());
    assert_eq!(stat.cbytes as usize, interop::table_bytes());
    assert_eq!(stat.lspid, out.pid());

    let got = interop::receive_by_plan(&queue).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, interop::plan_result());
    assert_eq!(queue.stat().unwrap().lrpid, our_pid());
}

#[test]
fn msg_rust_sends_c_receives_by_selector() {
    let dir = common::TempDir::new("cipc-msg-r2c");
    let (proj, key, queue) = interop::create_fresh(dir.path(), 71, |key| {
        MessageQueue::create(key).map(MessageQueue::remove_on_drop)
    });
    interop::send_table(&queue).unwrap();
    let out = run_c("msg-recv", dir.path(), proj, &[]);
    out.assert_ok();
    assert_eq!(out.key(), key);
    assert_eq!(id_of(&out), queue.id().raw());
    let got: Vec<(i64, usize, usize)> = out
        .all("got")
        .iter()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (
                w[0].parse().unwrap(),
                w[1].parse().unwrap(),
                w[2].parse().unwrap(),
            )
        })
        .collect();
    // The same plan, the same answers as shmkit's own receive.
    assert_eq!(got, interop::plan_result());
    assert!(out.lines.iter().any(|l| l == "empty"));
    let stat = queue.stat().unwrap();
    assert_eq!((stat.qnum, stat.cbytes), (0, 0));
    assert_eq!((stat.lspid, stat.lrpid), (our_pid(), out.pid()));
}

#[test]
fn msg_c_sees_a_corrupted_message() {
    // The peer's check is real: one wrong byte in one message and it says which.
    let dir = common::TempDir::new("cipc-msg-bad");
    let (proj, _, queue) = interop::create_fresh(dir.path(), 79, |key| {
        MessageQueue::create(key).map(MessageQueue::remove_on_drop)
    });
    for seq in 0..interop::MESSAGES.len() {
        let (mtype, mut text) = interop::message(seq);
        if seq == 2 {
            text[10] ^= 0x40;
        }
        queue.send(mtype, &text).unwrap();
    }
    let out = run_c("msg-recv", dir.path(), proj, &[]);
    assert_eq!(out.code(), Some(interop::EXIT_MISMATCH), "{out:?}");
    assert!(out.stderr.contains("message #2: byte 10"), "{}", out.stderr);
}

#[test]
fn a_taken_key_moves_the_peer_to_the_next_project_id() {
    // An object already under the first key: the peer's exclusive create reports it
    // (exit 5), the next project id is tried, and the squatter is left alone.
    let dir = common::TempDir::new("cipc-taken");
    let first = interop::proj_ids(41).next().unwrap();
    let squatter = MessageQueue::create(Key::ftok(dir.path(), first).unwrap())
        .unwrap()
        .remove_on_drop();
    squatter.send(9, b"mine").unwrap();
    let mut tried = Vec::new();
    let (proj, key, (out, queue)) = interop::peer_creates(dir.path(), 41, |proj, key| {
        tried.push(proj);
        let out = run_c("msg-send", dir.path(), proj, &[]);
        if out.key_taken() {
            return None;
        }
        Some((
            out,
            MessageQueue::open(key).map(MessageQueue::remove_on_drop),
        ))
    });
    out.assert_ok();
    let queue = queue.unwrap();
    assert_eq!(tried, [first, proj]);
    assert_eq!(queue.id().raw(), id_of(&out));
    assert_eq!(queue.stat().unwrap().key, key);
    assert_eq!(squatter.stat().unwrap().qnum, 1);
}
