//! Integration tests of the `shmkit` subcommands `ls`, `stat`, `ftok --json`, `mk`, `rm`,
//! `cat`, `dump`, `write`, `limits`, `watch`, `completions` and `man`: the real binary in
//! real processes, on real kernel objects, no sleeps and no timing assertions.
//!
//! Every object a test makes is removed when the test ends, also when an assertion fails:
//! objects made here through the library are wrapped in its remove-on-drop guards, and
//! objects that `shmkit mk` makes are wrapped in the same guards as soon as their ids are
//! read from its output. Tests that remove by staleness name their own objects (by key or
//! id): a bare `rm --stale` would also remove other tests' objects, and whatever the
//! machine had before.
//!
//! Exit statuses: 1 for a failed command (unknown id, bad offset), with `shmkit: ` before
//! the message on standard error; 2 for a value that does not parse (a bad key, id, size
//! or mode), which clap reports as a usage error.

use serde_json::Value;
use shmkit::{
    ErrorKind, Key, MessageQueue, MsgId, Removable, RemoveOnDrop, Segment, SemId, SemaphoreSet,
    ShmId,
};
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_shmkit");

/// Runs `shmkit args` with no input.
fn shmkit(args: &[&str]) -> Output {
    shmkit_with_input(args, b"")
}

/// Runs `shmkit args` with `input` on standard input.
fn shmkit_with_input(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shmkit");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // The command may stop reading early (input too long): a closed pipe is fine then.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait for shmkit")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success and returns standard output.
fn ok(args: &[&str]) -> String {
    let out = shmkit(args);
    assert!(
        out.status.success(),
        "shmkit {args:?}: {}\nstderr: {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts success and parses standard output as JSON.
fn ok_json(args: &[&str]) -> Value {
    let stdout = ok(args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("shmkit {args:?}: {e}\n{stdout}"))
}

/// Asserts exit status `code`, nothing on standard output, and a message on standard
/// error; returns the message.
fn fails(args: &[&str], code: i32) -> String {
    let out = shmkit(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "shmkit {args:?}: {stderr}");
    assert_eq!(text(&out.stdout), "", "shmkit {args:?}");
    stderr
}

/// A key for this test only: `0x5c` in the top byte, then 16 bits of this process's pid,
/// `tag` (below 16) and a count that moves on while some object of any kind has the key.
fn unique_key(tag: u8) -> Key {
    let pid = std::process::id();
    for bump in 0..16u32 {
        let raw = 0x5c00_0000 | ((pid & 0xffff) << 8) | (u32::from(tag & 0xf) << 4) | bump;
        let key = Key::from_raw(raw as i32);
        let taken = shmkit::info::segments()
            .unwrap()
            .iter()
            .any(|s| s.key == key)
            || shmkit::info::semaphore_sets()
                .unwrap()
                .iter()
                .any(|s| s.key == key)
            || shmkit::info::message_queues()
                .unwrap()
                .iter()
                .any(|s| s.key == key);
        if !taken {
            return key;
        }
    }
    panic!("no free key for tag {tag}");
}

fn segment(size: usize, mode: u32) -> RemoveOnDrop<Segment> {
    Segment::builder(Key::PRIVATE)
        .size(size)
        .mode(mode)
        .create()
        .expect("create a segment")
        .remove_on_drop()
}

/// The guard for an object that `shmkit` created, from the `<kind> <id> <key>` line or
/// JSON it printed.
#[derive(Debug)]
enum Guard {
    Shm(RemoveOnDrop<Segment>),
    Sem(RemoveOnDrop<SemaphoreSet>),
    Msg(RemoveOnDrop<MessageQueue>),
}

impl Guard {
    fn new(kind: &str, id: i32) -> Guard {
        match kind {
            "shm" => Guard::Shm(
                Segment::from_id(ShmId::from_raw(id))
                    .expect("the new segment")
                    .remove_on_drop(),
            ),
            "sem" => Guard::Sem(
                SemaphoreSet::from_id(SemId::from_raw(id))
                    .expect("the new set")
                    .remove_on_drop(),
            ),
            "msg" => Guard::Msg(
                MessageQueue::from_id(MsgId::from_raw(id))
                    .expect("the new queue")
                    .remove_on_drop(),
            ),
            other => panic!("unknown kind {other:?}"),
        }
    }

    fn exists(&self) -> bool {
        fn alive<T: Removable>(object: &T) -> bool {
            object.identity() != shmkit::Identity::Gone
        }
        match self {
            Guard::Shm(o) => alive(&**o),
            Guard::Sem(o) => alive(&**o),
            Guard::Msg(o) => alive(&**o),
        }
    }

    fn shm(&self) -> &Segment {
        match self {
            Guard::Shm(o) => o,
            other => panic!("not a segment: {other:?}"),
        }
    }
}

/// Guards for every object in the `created <kind> id <id> key <key>` lines of `mk`'s
/// output, with their ids and keys.
fn guard_mk_lines(stdout: &str) -> Vec<(Guard, i32, String)> {
    stdout
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let ["created", kind, "id", id, "key", key] = fields[..] else {
                panic!("not a labelled mk line: {line:?}");
            };
            let id: i32 = id.parse().expect("an id");
            (Guard::new(kind, id), id, key.to_owned())
        })
        .collect()
}

/// The element of `list` with this id.
fn find(list: &Value, id: i32) -> &Value {
    list.as_array()
        .expect("an array")
        .iter()
        .find(|o| o["id"] == id)
        .unwrap_or_else(|| panic!("id {id} not in {list:#}"))
}

fn my_pid() -> i64 {
    i64::from(std::process::id())
}

#[test]
fn ls_json_lists_each_kind_with_the_library_fields() {
    let seg = segment(1234, 0o640);
    let map = seg.attach().unwrap();
    let set = SemaphoreSet::builder(Key::PRIVATE)
        .count(2)
        .create()
        .unwrap()
        .remove_on_drop();
    set.set_value(1, 7).unwrap();
    let queue = MessageQueue::create(Key::PRIVATE).unwrap().remove_on_drop();
    queue.send(1, b"hello").unwrap();

    let all = ok_json(&["ls", "--json"]);
    let s = find(&all["shm"], seg.id().raw());
    assert_eq!(s["kind"], "shm");
    assert_eq!(s["key"], "0x00000000");
    assert_eq!(s["key_raw"], 0);
    assert_eq!(s["size"], 1234);
    assert_eq!(s["mode"], 0o640);
    assert_eq!(s["perms"], "640");
    assert_eq!(s["nattch"], 1);
    assert_eq!(s["cpid"], my_pid());
    assert_eq!(s["lpid"], my_pid());
    assert_eq!(s["uid"], shmkit::info::effective_uid());
    assert_eq!(s["dest"], false);
    assert_eq!(s["stale"], false, "attached, and its creator runs");
    assert!(s["ctime"].as_i64().unwrap() > 0);
    assert!(s["atime"].as_i64().unwrap() > 0);

    let m = find(&all["sem"], set.id().raw());
    assert_eq!(m["kind"], "sem");
    assert_eq!(m["nsems"], 2);
    assert_eq!(m["mode"], 0o600);
    assert_eq!(m["semaphores"][1]["value"], 7);
    assert_eq!(m["semaphores"][1]["pid"], my_pid());
    assert_eq!(m["semaphores"][0]["value"], 0);
    assert_eq!(m["stale"], false);

    let q = find(&all["msg"], queue.id().raw());
    assert_eq!(q["kind"], "msg");
    assert_eq!(q["qnum"], 1);
    assert_eq!(q["cbytes"], 5);
    assert_eq!(q["lspid"], my_pid());
    assert_eq!(q["stale"], false);

    // Filters: only the kinds asked for, as keys.
    let only = ok_json(&["ls", "--json", "--sem", "--msg"]);
    let keys: Vec<&String> = only.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["msg", "sem"]);

    // The text listing has the segment's row.
    let listing = ok(&["ls", "--shm"]);
    let row = listing
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&seg.id().to_string()))
        .unwrap_or_else(|| panic!("no row for {}:\n{listing}", seg.id()));
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields[3], "640", "{row}");
    assert_eq!(fields[4], "1234", "{row}");
    assert_eq!(fields.last(), Some(&"no"), "{row}");
    drop(map);
}

#[test]
fn stat_shows_a_segment_by_id_and_by_key() {
    let key = unique_key(1);
    let seg = Segment::builder(key)
        .size(4096)
        .create()
        .unwrap()
        .remove_on_drop();
    let id = seg.id().raw().to_string();

    let json = ok_json(&["stat", &id, "--json"]);
    assert_eq!(json["kind"], "shm");
    assert_eq!(json["id"], seg.id().raw());
    assert_eq!(json["key"], key.to_string());
    assert_eq!(json["key_raw"], key.raw());
    assert_eq!(json["size"], 4096);
    assert_eq!(json["nattch"], 0);
    assert_eq!(json["cpid"], my_pid());
    assert_eq!(json["lpid"], 0);
    assert_eq!(json["stale"], false);
    // The same object as ls shows it.
    let all = ok_json(&["ls", "--json", "--shm"]);
    let mut listed = find(&all["shm"], seg.id().raw()).clone();
    let mut stated = json.clone();
    for field in ["rss", "swap"] {
        listed.as_object_mut().unwrap().remove(field);
        stated.as_object_mut().unwrap().remove(field);
    }
    assert_eq!(listed, stated);

    assert_eq!(
        ok_json(&["stat", "--key", &key.to_string(), "--json"]),
        json
    );
    assert_eq!(
        ok_json(&["stat", "--key", &key.raw().to_string(), "--shm", "--json"]),
        json,
        "a decimal key"
    );

    let text = ok(&["stat", &id]);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .to_owned()
    };
    assert!(line("key").ends_with(&key.to_string()), "{text}");
    assert!(line("size").contains("4096 bytes"), "{text}");
    assert!(line("cpid").ends_with("(running)"), "{text}");
    assert!(line("dtime").ends_with("never"), "{text}");
    assert!(line("stale").ends_with("no"), "{text}");
}

#[test]
fn stat_shows_a_set_with_every_semaphore_and_a_queue() {
    let set = SemaphoreSet::builder(Key::PRIVATE)
        .count(3)
        .create()
        .unwrap()
        .remove_on_drop();
    set.set_values(&[1, 2, 3]).unwrap();
    let json = ok_json(&["stat", "--sem", &set.id().to_string(), "--json"]);
    assert_eq!(json["kind"], "sem");
    assert_eq!(json["nsems"], 3);
    let sems = json["semaphores"].as_array().unwrap();
    assert_eq!(sems.len(), 3);
    for (num, sem) in sems.iter().enumerate() {
        assert_eq!(sem["num"], num);
        assert_eq!(sem["value"], num + 1);
        assert_eq!(sem["ncnt"], 0);
        assert_eq!(sem["zcnt"], 0);
        assert_eq!(sem["pid"], my_pid());
    }
    let text = ok(&["stat", "--sem", &set.id().to_string()]);
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("semnum"))
        .collect();
    assert_eq!(table.len(), 4, "{text}");
    assert_eq!(
        table[3].split_whitespace().collect::<Vec<_>>(),
        ["2", "3", "0", "0", &std::process::id().to_string()]
    );

    let queue = MessageQueue::create(Key::PRIVATE).unwrap().remove_on_drop();
    queue.send(2, b"twelve bytes").unwrap();
    let json = ok_json(&["stat", "--msg", &queue.id().to_string(), "--json"]);
    assert_eq!(json["kind"], "msg");
    assert_eq!(json["qnum"], 1);
    assert_eq!(json["cbytes"], 12);
    assert_eq!(json["qbytes"], queue.stat().unwrap().qbytes);
    assert_eq!(json["lspid"], my_pid());
    assert_eq!(json["lrpid"], 0);
    assert!(json["stime"].as_i64().unwrap() > 0);
    assert_eq!(json["rtime"], 0);
}

#[test]
fn mk_makes_each_kind_and_rm_removes_by_id_and_by_key() {
    let key = unique_key(2);
    let k = key.to_string();
    let json = ok_json(&[
        "mk", "--shm", "8K", "--sem", "2", "--msg", "--mode", "640", "--key", &k, "--json",
    ]);
    let created = json["created"].as_array().expect("created");
    let guards: Vec<Guard> = created
        .iter()
        .map(|o| {
            Guard::new(
                o["kind"].as_str().unwrap(),
                o["id"].as_i64().unwrap() as i32,
            )
        })
        .collect();
    let kinds: Vec<&str> = created
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["shm", "sem", "msg"]);
    for o in created {
        assert_eq!(o["key"], k);
        assert_eq!(o["key_raw"], key.raw());
    }
    let ids: Vec<i32> = created
        .iter()
        .map(|o| o["id"].as_i64().unwrap() as i32)
        .collect();
    let stat = guards[0].shm().stat().unwrap();
    assert_eq!((stat.size, stat.mode, stat.key), (8192, 0o640, key));
    let set = SemaphoreSet::from_id(SemId::from_raw(ids[1])).unwrap();
    assert_eq!(set.stat().unwrap().nsems, 2);
    assert_eq!(set.stat().unwrap().mode, 0o640);

    // The key is taken now: mk is exclusive, and the error names the key.
    let err = fails(&["mk", "--msg", "--key", &k], 1);
    assert!(
        err.starts_with("shmkit: msgget(key=") && err.contains(&k),
        "{err}"
    );

    // By id.
    let out = ok(&["rm", "--shm", &ids[0].to_string()]);
    assert_eq!(out, format!("removed shm id {} key {k}\n", ids[0]));
    assert!(!guards[0].exists());

    // By key: it still names a set and a queue, which is too vague.
    let err = fails(&["rm", "--key", &k], 1);
    assert!(
        err.starts_with("shmkit: key ") && err.contains("by id"),
        "{err}"
    );
    assert!(guards[1].exists() && guards[2].exists());
    ok(&["rm", "--sem", &ids[1].to_string()]);
    let json = ok_json(&["rm", "--key", &k, "--json"]);
    assert_eq!(json["dry_run"], false);
    assert_eq!(json["removed"][0]["kind"], "msg");
    assert_eq!(json["removed"][0]["id"], ids[2]);
    assert_eq!(json["failed"], Value::Array(vec![]));
    assert!(guards.iter().all(|g| !g.exists()));
}

#[test]
fn mk_defaults_to_a_private_key_and_mode_0600() {
    let stdout = ok(&["mk", "--shm", "100"]);
    let made = guard_mk_lines(&stdout);
    assert_eq!(made.len(), 1, "{stdout}");
    let (guard, id, key) = &made[0];
    assert_eq!(key, "0x00000000");
    let stat = guard.shm().stat().unwrap();
    assert_eq!((stat.id.raw(), stat.mode, stat.size), (*id, 0o600, 100));
}

/// Issue 10, item 5: `mk` printed `shm 32769 0x00000000`, bare values. Each line now
/// labels them, as `rm`'s lines do: `created <kind> id <id> key <key>`.
#[test]
fn mk_lines_are_labelled_created_kind_id_key() {
    let key = unique_key(8);
    let k = key.to_string();
    let stdout = ok(&["mk", "--shm", "1", "--sem", "1", "--msg", "--key", &k]);
    let made = guard_mk_lines(&stdout);
    let expected: String = ["shm", "sem", "msg"]
        .iter()
        .zip(&made)
        .map(|(kind, (_, id, _))| format!("created {kind} id {id} key {k}\n"))
        .collect();
    assert_eq!(stdout, expected);
    let out = ok(&["rm", "--key", &k, "--stale", "--dry-run"]);
    assert_eq!(
        out,
        expected
            .replace("created ", "kept ")
            .replace('\n', " (not stale)\n"),
        "rm labels its lines the same way"
    );
}

#[test]
fn mk_removes_what_it_made_when_a_later_creation_fails() {
    let key = unique_key(3);
    let queue = MessageQueue::builder(key)
        .create()
        .unwrap()
        .remove_on_drop();
    let before = shmkit::info::segments().unwrap().len();
    // The segment comes first and succeeds; the queue's key is taken.
    let err = fails(
        &["mk", "--shm", "4096", "--msg", "--key", &key.to_string()],
        1,
    );
    assert!(err.contains("msgget"), "{err}");
    let left: Vec<_> = shmkit::info::segments()
        .unwrap()
        .into_iter()
        .filter(|s| s.key == key)
        .collect();
    assert_eq!(left, vec![], "the segment was not removed (of {before})");
    assert!(queue.stat().is_ok(), "the queue that was there stays");
}

#[test]
#[ignore = "helper: run by the staleness tests as a child process"]
fn user_process() {
    // `SHMKIT_TEST_USE=<shmid> <semid> <msqid> <left>`: use each object once, as a program
    // does, leave `left` messages in the queue, and exit. Without it (a plain `--ignored`
    // run) there is nothing to do.
    let Ok(spec) = std::env::var("SHMKIT_TEST_USE") else {
        return;
    };
    let ids: Vec<i32> = spec.split(' ').map(|f| f.parse().unwrap()).collect();
    let [shm, sem, msg, left] = ids[..] else {
        panic!("SHMKIT_TEST_USE={spec:?}");
    };
    let segment = Segment::from_id(ShmId::from_raw(shm)).unwrap();
    segment.attach().unwrap().detach().unwrap();
    let set = SemaphoreSet::from_id(SemId::from_raw(sem)).unwrap();
    set.op(&[shmkit::SemOp::new(0, 1)]).unwrap();
    let queue = MessageQueue::from_id(MsgId::from_raw(msg)).unwrap();
    queue.send(1, b"once").unwrap();
    let mut buf = [0u8; 8];
    queue.recv(shmkit::Selector::Any, &mut buf).unwrap();
    for _ in 0..left {
        queue.send(1, b"left").unwrap();
    }
    println!("USED");
}

/// Runs [`user_process`] on the objects `ids` (segment, set, queue), leaving `left`
/// messages in the queue, and waits until it has exited and been reaped: its pid names no
/// process any more.
fn use_then_exit(ids: [i32; 3], left: i32) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "user_process", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(
            "SHMKIT_TEST_USE",
            format!("{} {} {} {left}", ids[0], ids[1], ids[2]),
        )
        .output()
        .expect("run the user process");
    assert!(
        out.status.success() && text(&out.stdout).contains("USED"),
        "the user process failed: {}\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `(kind, id)` of each object in a `rm --json` list.
fn kinds_and_ids(list: &Value) -> Vec<(String, i64)> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Issue 10, item 3: a set-up script creates a segment, a set and a queue with `shmkit mk`
/// (which exits at once: their creator is gone) and then starts their users; `rm --stale`
/// runs in between. Nothing was used yet, so nothing is stale and nothing is removed. The
/// segment used to be removed (creator gone, `lpid` 0 counted as stale).
#[test]
fn rm_stale_keeps_objects_mk_just_made_before_their_users_start() {
    let key = unique_key(4);
    let k = key.to_string();
    let made = guard_mk_lines(&ok(&[
        "mk", "--shm", "4096", "--sem", "1", "--msg", "--key", &k,
    ]));
    let kinds: Vec<&str> = made
        .iter()
        .map(|(g, _, _)| match g {
            Guard::Shm(_) => "shm",
            Guard::Sem(_) => "sem",
            Guard::Msg(_) => "msg",
        })
        .collect();
    assert_eq!(kinds, ["shm", "sem", "msg"]);

    // What a bare `rm --stale` would take, every stale object of the machine (a dry run:
    // removing them would touch other tests' objects): none of these.
    let dry = ok_json(&["rm", "--stale", "--dry-run", "--json"]);
    let chosen = kinds_and_ids(&dry["removed"]);
    for (kind, (_, id, _)) in kinds.iter().zip(&made) {
        assert!(
            !chosen.contains(&((*kind).to_owned(), i64::from(*id))),
            "rm --stale would remove the new {kind} {id}: {dry:#}"
        );
    }
    // ls shows them as not stale.
    let all = ok_json(&["ls", "--json"]);
    for (kind, (_, id, _)) in kinds.iter().zip(&made) {
        assert_eq!(find(&all[*kind], *id)["stale"], false, "{kind} {id}");
    }

    // rm --stale on them: each kept, none removed.
    let out = ok(&["rm", "--stale", "--key", &k]);
    for (kind, (guard, id, _)) in kinds.iter().zip(&made) {
        let line = format!("kept {kind} id {id} key {k} (not stale)");
        assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
        assert!(guard.exists(), "the new {kind} {id} was removed:\n{out}");
    }
    assert!(!out.contains("removed"), "{out}");
}

/// The other side of the rule: objects that `shmkit mk` made, that a user process then
/// used once each (attached and detached the segment, operated on the set, sent to and
/// received from the queue) and that nobody uses after it exited are stale, and
/// `rm --stale` removes all three.
#[test]
fn rm_stale_removes_a_segment_set_and_queue_whose_user_exited() {
    let key = unique_key(6);
    let k = key.to_string();
    let made = guard_mk_lines(&ok(&[
        "mk", "--shm", "4096", "--sem", "1", "--msg", "--key", &k,
    ]));
    let ids = [made[0].1, made[1].1, made[2].1];
    use_then_exit(ids, 0);

    let shm = ok_json(&["stat", &ids[0].to_string(), "--json"]);
    assert!(
        shm["atime"].as_i64().unwrap() > 0 && shm["nattch"] == 0,
        "{shm:#}"
    );
    assert_eq!(shm["stale"], true, "{shm:#}");
    let sem = ok_json(&["stat", "--sem", &ids[1].to_string(), "--json"]);
    assert!(sem["otime"].as_i64().unwrap() > 0, "{sem:#}");
    assert_eq!(sem["stale"], true, "{sem:#}");
    let msg = ok_json(&["stat", "--msg", &ids[2].to_string(), "--json"]);
    assert!(
        msg["rtime"].as_i64().unwrap() > 0 && msg["qnum"] == 0,
        "{msg:#}"
    );
    assert_eq!(msg["stale"], true, "{msg:#}");

    // A bare dry run picks all three.
    let dry = ok_json(&["rm", "--stale", "--dry-run", "--json"]);
    let chosen = kinds_and_ids(&dry["removed"]);
    for (kind, id) in ["shm", "sem", "msg"].iter().zip(ids) {
        assert!(
            chosen.contains(&((*kind).to_owned(), i64::from(id))),
            "rm --stale would not remove {kind} {id}: {dry:#}"
        );
    }
    assert!(
        made.iter().all(|(g, _, _)| g.exists()),
        "a dry run removes nothing"
    );

    let out = ok(&["rm", "--stale", "--key", &k]);
    for (kind, id) in ["shm", "sem", "msg"].iter().zip(ids) {
        let line = format!("removed {kind} id {id} key {k}");
        assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
    }
    assert!(made.iter().all(|(g, _, _)| !g.exists()), "{out}");
}

/// Used once but still wanted: a segment whose creator (this process) runs, and a queue
/// whose user exited leaving a message in it, are kept by `rm --stale`; a segment and a
/// set that were used and left, selected alongside them, go.
#[test]
fn rm_stale_keeps_objects_in_use_and_messages_and_removes_the_rest() {
    let key = unique_key(7);
    let k = key.to_string();
    let made = guard_mk_lines(&ok(&[
        "mk", "--shm", "4096", "--sem", "1", "--msg", "--key", &k,
    ]));
    let ids = [made[0].1, made[1].1, made[2].1];
    // The user leaves a message: removing the queue would lose it.
    use_then_exit(ids, 1);

    // This process's own segment, attached once and detached: its creator runs.
    let mine = segment(4096, 0o600);
    mine.attach().unwrap().detach().unwrap();
    let mine_id = mine.id().to_string();

    let dry = ok(&["rm", "--stale", "--dry-run", "--key", &k, "--shm", &mine_id]);
    assert!(
        dry.lines()
            .any(|l| l == format!("would remove shm id {} key {k}", ids[0])),
        "{dry}"
    );
    assert!(
        made.iter().all(|(g, _, _)| g.exists()),
        "a dry run removes nothing"
    );

    let out = ok(&["rm", "--stale", "--key", &k, "--shm", &mine_id]);
    for (kind, id) in [("shm", ids[0]), ("sem", ids[1])] {
        let line = format!("removed {kind} id {id} key {k}");
        assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
    }
    assert!(
        out.lines()
            .any(|l| l == format!("kept msg id {} key {k} (not stale)", ids[2])),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l == format!("kept shm id {mine_id} key 0x00000000 (not stale)")),
        "{out}"
    );
    assert!(
        !made[0].0.exists() && !made[1].0.exists(),
        "the stale segment and set are gone"
    );
    assert!(made[2].0.exists(), "the queue with a message stays");
    assert!(mine.stat().is_ok(), "the live process's segment stays");
}

#[test]
fn write_then_cat_round_trips_and_writes_past_the_end_fail() {
    let seg = segment(64, 0o600);
    let id = seg.id().to_string();
    let out = shmkit_with_input(&["write", &id], b"Hello, segment\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"");
    let json: Value = serde_json::from_slice(
        &shmkit_with_input(&["write", &id, "--offset", "60", "--json"], b"tail").stdout,
    )
    .unwrap();
    assert_eq!(json["offset"], 60);
    assert_eq!(json["written"], 4);
    assert_eq!(json["size"], 64);

    let mut expected = vec![0u8; 64];
    expected[..15].copy_from_slice(b"Hello, segment\n");
    expected[60..].copy_from_slice(b"tail");
    let cat = shmkit(&["cat", &id]);
    assert!(cat.status.success());
    assert_eq!(cat.stdout, expected);

    // One byte too many: refused, and nothing written.
    let out = shmkit_with_input(&["write", &id, "--offset", "61"], b"tail");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("shmkit: the input does not fit") && stderr.contains("nothing written"),
        "{stderr}"
    );
    // Starting past the end.
    let out = shmkit_with_input(&["write", &id, "--offset", "65"], b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("shmkit: offset 65 is past the end of shared-memory segment"),
        "{stderr}"
    );
    assert_eq!(shmkit(&["cat", &id]).stdout, expected);
    // At the very end, nothing is fine.
    assert!(shmkit_with_input(&["write", &id, "--offset", "64"], b"")
        .status
        .success());
}

/// `hexdump -C` of the pattern written in `dump_is_hexdump_c_of_cat`, for machines
/// without `hexdump`.
const PATTERN_DUMP: &str = "\
00000000  48 65 6c 6c 6f 20 77 6f  72 6c 64 0a 00 00 00 00  |Hello world.....|
00000010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|
*
00000030  ff ff ff ff ff ff ff ff  ff ff ff ff ff ff ff ff  |................|
*
00000050  00 01 1f 20 7e 7f 80 fe  61 62 63 64 65 66 67 68  |... ~...abcdefgh|
00000060  78 79 7a 0a                                       |xyz.|
00000064
";

fn have_hexdump() -> bool {
    Command::new("sh")
        .args(["-c", "command -v hexdump"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn dump_is_hexdump_c_of_cat() {
    let seg = segment(100, 0o600);
    let map = seg.attach().unwrap();
    map.write_at(0, b"Hello world\n").unwrap();
    map.fill(48, 32, 0xff).unwrap();
    map.write_at(80, b"\x00\x01\x1f\x20\x7e\x7f\x80\xfeabcdefgh")
        .unwrap();
    map.write_at(96, b"xyz\n").unwrap();
    drop(map);
    let id = seg.id().to_string();
    let dump = ok(&["dump", &id]);
    let raw = shmkit(&["cat", &id]).stdout;
    assert_eq!(raw.len(), 100);
    if have_hexdump() {
        let mut child = Command::new("hexdump")
            .arg("-C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&raw).unwrap();
        let real = child.wait_with_output().unwrap();
        assert_eq!(dump, text(&real.stdout));
    }
    assert_eq!(dump, PATTERN_DUMP);
}

#[test]
fn cat_into_a_closed_pipe_is_not_an_error() {
    let seg = segment(1 << 20, 0o600);
    let mut child = Command::new(BIN)
        .args(["cat", &seg.id().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn limits_json_has_every_facility() {
    let json = ok_json(&["limits", "--json"]);
    assert!(json["shm"]["limits"]["shmmax"].as_u64().unwrap() > 0);
    assert!(json["shm"]["limits"]["shmmni"].as_u64().unwrap() > 0);
    assert!(json["shm"]["usage"]["segments"].is_u64());
    assert!(json["shm"]["page_size"].as_u64().unwrap() > 0);
    assert!(json["sem"]["limits"]["semmsl"].as_u64().unwrap() > 0);
    assert!(json["sem"]["usage"]["sets"].is_u64());
    assert!(json["msg"]["limits"]["msgmax"].as_u64().unwrap() > 0);
    assert!(json["msg"]["usage"]["queues"].is_u64());
    let only = ok_json(&["limits", "--json", "--msg"]);
    assert_eq!(only.as_object().unwrap().len(), 1);
    let text = ok(&["limits"]);
    for name in ["shmmax", "semmsl", "msgmnb"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{text}");
    }
}

#[test]
fn watch_prints_count_listings_when_not_on_a_terminal() {
    let seg = segment(4096, 0o600);
    let stdout = ok(&["watch", "--count", "2", "--interval", "0.05", "--shm"]);
    let title = "------ Shared Memory Segments --------";
    assert_eq!(stdout.matches(title).count(), 2, "{stdout}");
    assert!(
        !stdout.contains('\x1b'),
        "no escape sequences off a terminal"
    );
    assert!(stdout.contains(&format!(" {} ", seg.id())), "{stdout}");

    let stdout = ok(&["watch", "--count", "2", "--interval", "0.05", "--json"]);
    let docs: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{stdout}");
    for doc in docs {
        find(&doc["shm"], seg.id().raw());
    }
}

#[test]
fn completions_and_man_pages_are_generated() {
    let bash = ok(&["completions", "bash"]);
    assert!(
        bash.contains("_shmkit()") && bash.contains("watch"),
        "{bash}"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(!ok(&["completions", shell]).is_empty(), "{shell}");
    }
    let man = ok(&["man"]);
    assert!(man.contains(".TH shmkit 1"), "{man}");
    assert!(man.contains("shmkit\\-rm"), "{man}");
    let man = ok(&["man", "stat"]);
    assert!(man.contains(".TH shmkit-stat 1"), "{man}");
    let err = fails(&["man", "nope"], 1);
    assert!(err.starts_with("shmkit: no subcommand"), "{err}");
    fails(&["completions", "tcsh"], 2);
}

#[test]
fn ftok_json_has_the_key_both_ways() {
    let dir = std::env::temp_dir();
    let key = Key::ftok(&dir, 65).unwrap();
    let json = ok_json(&["ftok", dir.to_str().unwrap(), "A", "--json"]);
    assert_eq!(json["key"], key.to_string());
    assert_eq!(json["key_raw"], key.raw());
    assert_eq!(json["proj_id"], 65);
    assert_eq!(json["path"], dir.to_str().unwrap());
}

#[test]
fn unknown_ids_exit_1_with_the_prefix() {
    let id = i32::MAX.to_string();
    for args in [
        vec!["stat", &id],
        vec!["stat", "--sem", &id],
        vec!["stat", "--msg", &id],
        vec!["cat", &id],
        vec!["dump", &id],
        vec!["write", &id],
        vec!["rm", "--shm", &id],
    ] {
        let err = fails(&args, 1);
        assert!(
            err.starts_with("shmkit: no ") && err.contains(&format!("has id {id}")),
            "{args:?}: {err}"
        );
    }
    let key = unique_key(5).to_string();
    let err = fails(&["stat", "--key", &key], 1);
    assert_eq!(err, format!("shmkit: no object has key {key}\n"));
    let err = fails(&["stat", "--key", "0"], 1);
    assert!(err.contains("IPC_PRIVATE"), "{err}");
}

#[test]
fn values_that_do_not_parse_are_usage_errors() {
    for args in [
        &["stat", "--key", "zz"][..],
        &["stat", "-1"],
        &["mk", "--shm", "4096", "--key", "0x123456789"],
        &["mk", "--shm", "4X"],
        &["mk", "--shm", "0"],
        &["mk", "--sem", "0"],
        &["mk", "--msg", "--mode", "800"],
        &["mk"],
        &["rm"],
        &["rm", "--key", "key"],
        &["write", "1", "--offset", "-1"],
        &["watch", "--interval", "0"],
        &["watch", "--count", "0"],
        &["stat", "1", "--key", "1"],
        &["stat", "1", "--sem", "--msg"],
    ] {
        let err = fails(args, 2);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
}

/// Issue 10, item 5: `mk --sem 100000` said only `semget(...): invalid argument (EINVAL)`.
/// The error now names the limit that refused it, semmsl, with its value.
#[test]
fn mk_past_semmsl_names_the_limit() {
    let semmsl = shmkit::info::sem_limits().unwrap().semmsl;
    let count = (semmsl + 1).to_string();
    let err = fails(&["mk", "--sem", &count], 1);
    assert!(err.starts_with("shmkit: semget("), "{err}");
    assert!(err.contains("(EINVAL)"), "{err}");
    assert!(
        err.trim_end().ends_with(&format!(
            "refused by semmsl, the most semaphores in one set: {semmsl}"
        )),
        "{err}"
    );
}

/// Runs `shmkit args` in a new IPC namespace after `setup` (shell commands that set its
/// limits in `/proc/sys/kernel`): whatever it creates goes with the namespace. `None` when
/// not root (`unshare --ipc` needs it).
fn in_new_ipc_namespace(setup: &str, args: &[&str]) -> Option<Output> {
    if shmkit::info::effective_uid() != 0 {
        eprintln!("SKIPPED: needs root (unshare --ipc, to set the namespace's limits)");
        return None;
    }
    let out = Command::new("unshare")
        .args([
            "--ipc",
            "sh",
            "-c",
            &format!("{setup} && exec \"$0\" \"$@\""),
            BIN,
        ])
        .args(args)
        .output()
        .expect("run unshare");
    Some(out)
}

/// Issue 10, item 5: `mk --shm SIZE` refused by the kernel said only `shmget(...)` and the
/// errno. The error names the limit and its value: shmmax for a size above it, shmall
/// when the pages would pass it, and, for `ENOMEM`, that no System V limit refused it but
/// the kernel's memory reservation did. Each case in a namespace of its own, with its
/// limits set low (the machine's are usually far above any test size).
#[test]
fn mk_past_shmmax_or_shmall_names_the_limit() {
    let page = shmkit::info::page_size();
    let Some(out) = in_new_ipc_namespace(
        "echo 8192 > /proc/sys/kernel/shmmax",
        &["mk", "--shm", "16K"],
    ) else {
        return;
    };
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("(EINVAL)"), "{err}");
    assert!(
        err.trim_end()
            .ends_with("refused by shmmax, the largest segment: 8192 bytes"),
        "{err}"
    );

    let out =
        in_new_ipc_namespace("echo 10 > /proc/sys/kernel/shmall", &["mk", "--shm", "1M"]).unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("(ENOSPC)"), "{err}");
    let needs = (1 << 20) / page;
    assert!(
        err.trim_end().ends_with(&format!(
            "refused by shmall, the most shared memory in all segments: 10 pages of {page} \
             bytes (0 in use; this segment needs {needs})"
        )),
        "{err}"
    );

    // 100000 TiB is more than any machine's RAM and swap: refused by the kernel's
    // overcommit check, unless it is off (vm.overcommit_memory 1 always says yes).
    let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap();
    if overcommit.trim() == "1" {
        eprintln!("SKIPPED the ENOMEM case: vm.overcommit_memory is 1");
        return;
    }
    let out = in_new_ipc_namespace("true", &["mk", "--shm", "100000T"]).unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("(ENOMEM)"), "{err}");
    assert!(
        err.contains("no System V limit refused it (shmmax is ")
            && err.contains("the kernel would not reserve 109951162777600000 bytes of memory"),
        "{err}"
    );
}

#[test]
fn rm_of_a_removed_segment_exits_1() {
    let seg = segment(1, 0o600);
    let id = seg.id();
    seg.remove().unwrap();
    let err = Segment::from_id(id).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::InvalidArgument | ErrorKind::Removed
    ));
    let err = fails(&["rm", "--shm", &id.to_string()], 1);
    assert!(err.starts_with("shmkit: no shared-memory segment"), "{err}");
}
