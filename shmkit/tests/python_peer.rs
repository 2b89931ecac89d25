//! Interoperability with a real Python peer using the `sysv_ipc` package from PyPI
//! (`scripts/test.sh` sets it up in a virtual environment and passes its interpreter as
//! `SHMKIT_PYTHON`; these tests fail, not skip, without it): both sides compute the
//! same key with `ftok`, and segments, semaphores and message queues made on one side are
//! opened by key and used on the other, in both directions, including blocking handoffs.
//!
//! The peer is `tests/peers/sysv_peer.py`; the shared conventions are in `tests/interop`.

mod common;
mod interop;

use interop::{LivePeer, PeerOutput};
use shmkit::{ErrorKind, Key, MessageQueue, Segment, Selector, SemId, SemOp, SemaphoreSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/sysv_peer.py");
const SIZE: usize = 10_007;

/// How to get an interpreter with `sysv_ipc`. Not `pip install`: Debian 12 and other
/// PEP 668 systems refuse it outside a virtual environment.
const INSTALL: &str = "scripts/test.sh, which makes a virtual environment with it under \
     target/pyenv (scripts/python-env.sh prints its interpreter; set SHMKIT_PYTHON to that \
     or to any python3 that imports sysv_ipc)";

/// The interpreter `program args…`, resolved to its real executable (not a pyenv shim), if
/// it can import `sysv_ipc`; otherwise what to install.
fn check_python(program: &str, args: &[&str]) -> Result<PathBuf, String> {
    let out = Command::new(program)
        .args(args)
        .args(["-c", "import sys, sysv_ipc; print(sys.executable)"])
        .output()
        .map_err(|e| {
            format!(
                "cannot run {program:?} ({e}): the Python peer tests need Python 3 and the \
                 sysv_ipc package: install python3, then run {INSTALL}"
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "{program:?} cannot import the sysv_ipc package that the Python peer tests need: \
             run {INSTALL}\n{}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let exe = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(if exe.is_empty() || !args.is_empty() {
        PathBuf::from(program)
    } else {
        PathBuf::from(exe)
    })
}

/// `$SHMKIT_PYTHON` (set by `scripts/test.sh`), else `$PYTHON`, else `python3`, checked
/// once; panics (fails the test) with set-up advice.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let program = std::env::var("SHMKIT_PYTHON")
            .or_else(|_| std::env::var("PYTHON"))
            .unwrap_or_else(|_| "python3".into());
        check_python(&program, &[])
    });
    match found {
        Ok(path) => path,
        Err(why) => panic!("{why}"),
    }
}

fn py(command: &str, dir: &Path, proj: i32, args: &[&str]) -> Command {
    let mut cmd = Command::new(python());
    cmd.args(["-u", "-B", SCRIPT, command])
        .arg(dir)
        .arg(proj.to_string())
        .args(args);
    cmd
}

fn run_py(command: &str, dir: &Path, proj: i32, args: &[&str]) -> PeerOutput {
    interop::run(
        &format!("python peer {command}"),
        py(command, dir, proj, args),
    )
}

fn id_of(out: &PeerOutput) -> i32 {
    out.field("id")[0].parse().expect("the peer prints its id")
}

fn our_pid() -> i32 {
    std::process::id() as i32
}

/// The calling thread's id (`/proc/thread-self` links to `PID/task/TID`).
fn our_tid() -> i32 {
    let link = std::fs::read_link("/proc/thread-self").expect("reading /proc/thread-self");
    let tid = link.file_name().expect("PID/task/TID");
    tid.to_str().unwrap().parse().expect("a thread id")
}

/// The advice points at `scripts/test.sh`, which works on Debian 12, and not at
/// `pip install sysv-ipc`, which Debian 12 refuses (externally-managed-environment).
#[test]
fn missing_python_or_sysv_ipc_fails_with_install_advice() {
    let err = check_python("/nonexistent/python3", &[]).unwrap_err();
    assert!(err.contains("run scripts/test.sh"), "{err}");
    assert!(!err.contains("pip install"), "{err}");
    // -I -S: no site-packages, so sysv_ipc cannot be imported.
    let program = python().to_str().unwrap();
    let err = check_python(program, &["-I", "-S"]).unwrap_err();
    assert!(err.contains("run scripts/test.sh"), "{err}");
    assert!(err.contains("SHMKIT_PYTHON"), "{err}");
    assert!(!err.contains("pip install"), "{err}");
    assert!(err.contains("sysv_ipc"), "{err}");
}

#[test]
fn python_and_rust_compute_the_same_ftok_keys() {
    let dir = common::TempDir::new("py-ftok");
    let file = dir.path().join("a file");
    std::fs::write(&file, b"x").unwrap();
    for path in [dir.path(), file.as_path()] {
        for proj in [1, 65, 127, 128, 200, 255, 256, 257] {
            let out = run_py("ftok", path, proj, &[]);
            out.assert_ok();
            assert_eq!(
                out.key(),
                Key::ftok(path, proj).unwrap(),
                "{} {proj}",
                path.display()
            );
        }
    }
}

// ----------------------------------------------------------------------------- segments

#[test]
fn shm_python_creates_and_writes_rust_reads() {
    let dir = common::TempDir::new("py-shm-p2r");
    let (_, key, (out, seg)) = interop::peer_creates(dir.path(), 67, |proj, key| {
        let out = run_py("shm-create", dir.path(), proj, &[&SIZE.to_string()]);
        if out.key_taken() {
            return None;
        }
        // Guard whatever the peer made before looking at what it said.
        Some((out, Segment::open(key).map(Segment::remove_on_drop)))
    });
    out.assert_ok();
    assert_eq!(out.key(), key);
    let seg = seg.unwrap();
    assert_eq!(seg.id().raw(), id_of(&out));
    let map = seg.attach_read_only().unwrap();
    assert_eq!(map.len(), SIZE);
    let bytes = map.read_vec(0, SIZE).unwrap();
    let bad = bytes
        .iter()
        .enumerate()
        .find(|&(i, &b)| b != interop::pattern_a(i));
    assert_eq!(bad, None, "first differing byte");
    let stat = seg.stat().unwrap();
    assert_eq!((stat.mode, stat.size, stat.nattch), (0o600, SIZE, 1));
    assert_eq!(stat.cpid, out.pid());
}

#[test]
fn shm_rust_creates_and_writes_python_reads_and_answers() {
    let dir = common::TempDir::new("py-shm-r2p");
    let (proj, key, seg) = interop::create_fresh(dir.path(), 82, |key| {
        Segment::builder(key)
            .size(SIZE)
            .create()
            .map(Segment::remove_on_drop)
    });
    let map = seg.attach().unwrap();
    let data: Vec<u8> = (0..SIZE).map(interop::pattern_b).collect();
    map.write_at(0, &data).unwrap();

    let out = run_py("shm-check", dir.path(), proj, &[&SIZE.to_string()]);
    out.assert_ok();
    assert_eq!(out.key(), key);
    assert_eq!(id_of(&out), seg.id().raw());
    // The peer wrote its answer (pattern A) over what it checked.
    let back = map.read_vec(0, SIZE).unwrap();
    let bad = back
        .iter()
        .enumerate()
        .find(|&(i, &b)| b != interop::pattern_a(i));
    assert_eq!(bad, None, "first byte the peer did not write");
    let stat = seg.stat().unwrap();
    assert_eq!(
        stat.lpid,
        out.pid(),
        "the peer was the last to attach/detach"
    );
}

#[test]
fn shm_python_sees_a_corrupted_byte() {
    // The peer's check is real: one wrong byte and it says which.
    let dir = common::TempDir::new("py-shm-bad");
    let (proj, _, seg) = interop::create_fresh(dir.path(), 9, |key| {
        Segment::builder(key)
            .size(SIZE)
            .create()
            .map(Segment::remove_on_drop)
    });
    let mut data: Vec<u8> = (0..SIZE).map(interop::pattern_b).collect();
    data[4321] ^= 0xff;
    seg.attach().unwrap().write_at(0, &data).unwrap();
    let out = run_py("shm-check", dir.path(), proj, &[&SIZE.to_string()]);
    assert_eq!(out.code(), Some(interop::EXIT_MISMATCH), "{out:?}");
    assert!(out.stderr.contains("byte 4321"), "{}", out.stderr);
}

// --------------------------------------------------------------------------- semaphores

#[test]
fn sem_rust_creates_python_operates() {
    let dir = common::TempDir::new("py-sem-r2p");
    let (proj, key, set) = interop::create_fresh(dir.path(), 83, |key| {
        SemaphoreSet::builder(key)
            .count(3)
            .create()
            .map(SemaphoreSet::remove_on_drop)
    });
    set.set_values(&[5, 7, 9]).unwrap();

    let out = run_py("sem-ops", dir.path(), proj, &[]);
    out.assert_ok();
    assert_eq!(out.key(), key);
    assert_eq!(id_of(&out), set.id().raw());
    // sysv_ipc works on semaphore 0 of the set. Its last acquire had SEM_UNDO: 40 while it
    // ran, and the kernel gave the 2 back when it exited. The other semaphores are as set.
    assert_eq!(out.field("value"), ["40"]);
    assert_eq!(set.values().unwrap(), [42, 7, 9]);
    assert_eq!(set.last_pid(0).unwrap(), out.pid());
    assert_eq!(set.waiting_for_increase(0).unwrap(), 0);
    assert!(set.stat().unwrap().otime > 0);
}

#[test]
fn sem_python_creates_rust_operates_python_checks() {
    let dir = common::TempDir::new("py-sem-p2r");
    let (proj, key, (out, set)) = interop::peer_creates(dir.path(), 91, |proj, key| {
        let out = run_py("sem-create", dir.path(), proj, &["3"]);
        if out.key_taken() {
            return None;
        }
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
    assert_eq!((stat.nsems, stat.mode, stat.key), (1, 0o600, key));
    assert_eq!(set.values().unwrap(), [3]);

    set.op(&[SemOp::new(0, -2)]).unwrap();
    assert_eq!(set.value(0).unwrap(), 1);
    let refused = set.op(&[SemOp::new(0, -2).no_wait()]).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::WouldBlock);
    assert_eq!(set.value(0).unwrap(), 1);
    set.set_value(0, 70).unwrap();
    set.op(&[SemOp::new(0, 7)]).unwrap();

    let check = run_py(
        "sem-expect",
        dir.path(),
        proj,
        &["77", &our_pid().to_string()],
    );
    check.assert_ok();
    assert_eq!(id_of(&check), set.id().raw());
}

#[test]
fn sem_handoff_python_waits_until_rust_releases() {
    let dir = common::TempDir::new("py-sem-wait");
    let (proj, key, set) = interop::create_fresh(dir.path(), 105, |key| {
        SemaphoreSet::builder(key)
            .count(1)
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
        "python peer sem-wait",
        py("sem-wait", dir.path(), proj, &[]),
        on_failure,
    );
    assert_eq!(peer.key(), key);
    peer.expect("waiting");
    // The kernel's own count says when the peer is blocked in semop.
    while peer.check(set.waiting_for_increase(0), "GETNCNT") == 0 {
        std::thread::yield_now();
    }
    assert_eq!(set.value(0).unwrap(), 0);
    set.op(&[SemOp::new(0, 1)]).unwrap();
    assert_eq!(peer.expect("acquired"), ["0"]);
    let pid = peer.pid();
    peer.finish();
    assert_eq!(set.values().unwrap(), [0]);
    // Our release completed the peer's waiting operation: the kernel records the peer.
    assert_eq!(set.last_pid(0).unwrap(), pid);
}

#[test]
fn sem_handoff_rust_waits_until_python_releases() {
    let dir = common::TempDir::new("py-sem-post");
    let (_, key, (mut peer, set)) = interop::peer_creates(dir.path(), 111, |proj, key| {
        // If the peer dies after creating the semaphore, removing it ends our wait.
        let on_failure = move |said: &[String]| {
            let id = said
                .iter()
                .find_map(|l| l.strip_prefix("id ")?.parse().ok());
            if let Some(Ok(set)) = id.map(|id| SemaphoreSet::from_id(SemId::from_raw(id))) {
                if set.key() == key {
                    let _ = set.remove();
                }
            }
        };
        let mut peer = LivePeer::spawn(
            "python peer sem-post",
            py("sem-post", dir.path(), proj, &[]),
            on_failure,
        );
        let id = peer.expect_or_taken("id")?;
        let set = SemaphoreSet::open(key).map(SemaphoreSet::remove_on_drop);
        Some((peer, set.map(|s| (s, id))))
    });
    assert_eq!(peer.key(), key);
    let (set, id) = peer.check(set, "opening the peer's semaphore");
    assert_eq!(id, [set.id().to_string()]);
    assert_eq!(set.value(0).unwrap(), 0);
    // Blocks until the peer, seeing us wait, releases.
    peer.check(
        set.op(&[SemOp::new(0, -1)]),
        "waiting on the peer's semaphore",
    );
    peer.expect("released");
    peer.finish();
    assert_eq!(set.value(0).unwrap(), 0);
    assert_eq!(set.last_pid(0).unwrap(), our_pid());
}

// ------------------------------------------------------------------------ message queues

#[test]
fn msg_rust_sends_python_receives_by_type() {
    let dir = common::TempDir::new("py-msg-r2p");
    let (proj, key, queue) = interop::create_fresh(dir.path(), 71, |key| {
        MessageQueue::create(key).map(MessageQueue::remove_on_drop)
    });
    interop::send_table(&queue).unwrap();
    let stat = queue.stat().unwrap();
    assert_eq!(stat.qnum as usize, interop::MESSAGES.len());
    assert_eq!(stat.cbytes as usize, interop::table_bytes());

    let out = run_py("msg-recv", dir.path(), proj, &[]);
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
    let want: Vec<(i64, usize, usize)> = [2, 1, 3, 0, 4, 5, 6]
        .iter()
        .map(|&seq| {
            let (mtype, text) = interop::message(seq);
            (mtype, seq, text.len())
        })
        .collect();
    assert_eq!(got, want);
    assert!(out.lines.iter().any(|l| l == "empty"));
    let stat = queue.stat().unwrap();
    assert_eq!((stat.qnum, stat.cbytes), (0, 0));
    assert_eq!((stat.lspid, stat.lrpid), (our_pid(), out.pid()));
}

#[test]
fn msg_python_sends_rust_receives_by_selector() {
    let dir = common::TempDir::new("py-msg-p2r");
    let (_, key, (out, queue)) = interop::peer_creates(dir.path(), 73, |proj, key| {
        let out = run_py("msg-send", dir.path(), proj, &[]);
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
fn msg_python_sees_a_corrupted_message() {
    // The peer's check is real: one wrong byte in one message and it says which.
    let dir = common::TempDir::new("py-msg-bad");
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
    let out = run_py("msg-recv", dir.path(), proj, &[]);
    assert_eq!(out.code(), Some(interop::EXIT_MISMATCH), "{out:?}");
    assert!(out.stderr.contains("message #2: byte 10"), "{}", out.stderr);
}

#[test]
fn msg_ping_pong_with_python() {
    // Both sides block in msgrcv in turn: every round trip is a handoff through the queue.
    let dir = common::TempDir::new("py-msg-echo");
    let (proj, key, queue) = interop::create_fresh(dir.path(), 97, |key| {
        MessageQueue::create(key).map(MessageQueue::remove_on_drop)
    });
    let on_failure = {
        let queue = (*queue).clone();
        move |_: &[String]| {
            let _ = queue.remove();
        }
    };
    let mut peer = LivePeer::spawn(
        "python peer msg-echo",
        py("msg-echo", dir.path(), proj, &[]),
        on_failure,
    );
    assert_eq!(peer.key(), key);
    peer.expect("ready");
    const ROUNDS: usize = 50;
    let mut buf = [0u8; 512];
    for round in 0..ROUNDS {
        let text: Vec<u8> = (0..round * 7).map(|i| (i * 11 + round) as u8).collect();
        peer.check(queue.send(1, &text), "msgsnd");
        let (mtype, len) = peer.check(queue.recv(Selector::Type(2), &mut buf), "msgrcv");
        let mut want = text.clone();
        want.reverse();
        assert_eq!((mtype, &buf[..len]), (2, &want[..]), "round {round}");
    }
    queue.send(1, b"quit").unwrap();
    let (mtype, len) = peer.check(queue.recv(Selector::Type(3), &mut buf), "msgrcv");
    assert_eq!((mtype, &buf[..len]), (3, &b"bye"[..]));
    assert_eq!(peer.expect("echoed"), [ROUNDS.to_string()]);
    let pid = peer.pid();
    peer.finish();
    let stat = queue.stat().unwrap();
    assert_eq!((stat.qnum, stat.lspid), (0, pid));
    // We were already waiting when "bye" came: the kernel hands such a message straight to
    // the waiting task and records that task's thread id, not its process id, as msg_lrpid
    // (`pipelined_send` in ipc/msg.c uses task_pid_vnr where do_msgrcv uses task_tgid_vnr).
    assert!(
        [our_pid(), our_tid()].contains(&stat.lrpid),
        "lrpid {} is neither our pid {} nor our thread id {}",
        stat.lrpid,
        our_pid(),
        our_tid()
    );
}

#[test]
fn a_taken_key_moves_the_peer_to_the_next_project_id() {
    // An object already under the first key: the peer's exclusive create reports it
    // (exit 5), the next project id is tried, and the squatter is left alone.
    let dir = common::TempDir::new("py-taken");
    let first = interop::proj_ids(41).next().unwrap();
    let squatter = SemaphoreSet::builder(Key::ftok(dir.path(), first).unwrap())
        .count(1)
        .create()
        .unwrap()
        .remove_on_drop();
    let mut tried = Vec::new();
    let (proj, key, (out, set)) = interop::peer_creates(dir.path(), 41, |proj, key| {
        tried.push(proj);
        let out = run_py("sem-create", dir.path(), proj, &["1"]);
        if out.key_taken() {
            return None;
        }
        Some((
            out,
            SemaphoreSet::open(key).map(SemaphoreSet::remove_on_drop),
        ))
    });
    out.assert_ok();
    let set = set.unwrap();
    assert_eq!(tried, [first, proj]);
    assert_eq!(set.id().raw(), id_of(&out));
    assert_eq!(set.stat().unwrap().key, key);
    assert_ne!(set.id(), squatter.id());
    assert_eq!(squatter.stat().unwrap().key, squatter.key());
}
