//! Integration tests of the `shmkit` binary: real processes, real kernel objects, no sleeps.
//!
//! Every test removes what it (or the demo it runs) creates, also when an assertion fails:
//! guards kill and reap the processes they start and remove the segments and directories
//! those processes made.

use shmkit::{Key, SegmentStat, ShmId};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_shmkit");
const PAUSE_VAR: &str = "SHMKIT_DEMO_PAUSE_AFTER_CREATE";

fn shmkit(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run shmkit")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn segments() -> Vec<SegmentStat> {
    shmkit::info::segments().expect("list segments")
}

fn segment_exists(id: ShmId) -> bool {
    segments().iter().any(|s| s.id == id)
}

/// A directory of this test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("shmkit-cli-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).expect("create the test directory");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp dir")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A demo process: killed (if still running) and reaped on drop, after which whatever it
/// created and left is removed: the segments whose creator pid is its pid and its
/// `shmkit-demo-<pid>-*` directories.
struct Demo {
    child: Child,
}

impl Demo {
    fn spawn(pause: bool, stdin: Stdio) -> Demo {
        let mut command = Command::new(BIN);
        command
            .arg("demo")
            .env_remove(PAUSE_VAR)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if pause {
            command.env(PAUSE_VAR, "1");
        }
        Demo {
            child: command.spawn().expect("spawn shmkit demo"),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn dir_prefix(&self) -> String {
        format!("shmkit-demo-{}-", self.pid())
    }

    /// The demo's directories that exist now.
    fn dirs_left(&self) -> Vec<PathBuf> {
        let prefix = self.dir_prefix();
        fs::read_dir(std::env::temp_dir())
            .expect("list the temp dir")
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
            .map(|entry| entry.path())
            .collect()
    }

    /// The segments the demo created that exist now.
    fn segments_left(&self) -> Vec<SegmentStat> {
        let pid = i32::try_from(self.pid()).expect("pid fits in pid_t");
        segments().into_iter().filter(|s| s.cpid == pid).collect()
    }

    /// Collects stderr once the process has ended.
    fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut err);
        }
        err
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for stat in self.segments_left() {
            if let Ok(segment) = shmkit::Segment::from_id(stat.id) {
                let _ = segment.remove();
            }
        }
        for dir in self.dirs_left() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// One `ipcs`-style row of the demo's output.
#[derive(Debug)]
struct Row {
    who: String,
    key: Key,
    shmid: ShmId,
    nattch: u64,
}

/// The segment rows in the demo's output, in order.
fn rows(stdout: &str) -> Vec<Row> {
    stdout
        .lines()
        .filter_map(|line| {
            let (who, rest) = line.strip_prefix('[')?.split_once("] ")?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.len() < 6 || !fields[0].starts_with("0x") || fields[0].len() != 10 {
                return None;
            }
            Some(Row {
                who: who.to_owned(),
                key: fields[0].parse().ok()?,
                shmid: ShmId::from_raw(fields[1].parse().ok()?),
                nattch: fields[5].parse().ok()?,
            })
        })
        .collect()
}

/// The demo's directory, from its `create_dir(<path>): ...` step.
fn demo_dir(stdout: &str) -> Option<PathBuf> {
    let after = stdout.split_once("create_dir(")?.1;
    Some(PathBuf::from(after.split_once("): ")?.0))
}

#[test]
fn ftok_prints_the_library_key_for_char_decimal_and_hex() {
    let dir = TempDir::new("ftok");
    let expected = format!("{}\n", Key::ftok(dir.path(), 65).unwrap());
    for proj_id in ["A", "65", "0x41"] {
        let out = shmkit(&["ftok", dir.arg(), proj_id]);
        assert!(out.status.success(), "{proj_id}: {out:?}");
        assert_eq!(text(&out.stdout), expected, "proj_id {proj_id}");
        assert_eq!(text(&out.stderr), "", "proj_id {proj_id}");
    }
}

#[test]
fn ftok_all_digits_is_a_number_not_a_character() {
    let dir = TempDir::new("ftok-digits");
    for (arg, proj_id) in [("1", 1), ("0", 0), ("S", 83), ("255", 255), ("0xff", 255)] {
        let out = shmkit(&["ftok", dir.arg(), arg]);
        assert!(out.status.success(), "{arg}: {out:?}");
        let expected = format!("{}\n", Key::ftok(dir.path(), proj_id).unwrap());
        assert_eq!(text(&out.stdout), expected, "proj_id {arg}");
    }
}

#[test]
fn ftok_missing_path_exits_1_and_names_the_path() {
    let dir = TempDir::new("ftok-missing");
    let missing = dir.path().join("does-not-exist");
    let missing = missing.to_str().unwrap();
    let out = shmkit(&["ftok", missing, "A"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.starts_with("shmkit: "), "{stderr:?}");
    assert!(stderr.contains(missing), "{stderr:?}");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn ftok_bad_proj_id_is_a_usage_error_naming_the_value() {
    let dir = TempDir::new("ftok-bad");
    for bad in ["AB", "", "0xZZ", "99999999999"] {
        let out = shmkit(&["ftok", dir.arg(), bad]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
        assert!(stderr.contains(&format!("'{bad}'")), "{bad:?}: {stderr:?}");
        assert_eq!(text(&out.stdout), "");
    }
}

/// Issue 10, item 5: `shmkit ftok /tmp 300` printed the key of proj_id 44 (glibc's ftok
/// keeps only the low 8 bits) without a word. Now a project id outside 0..=255 is a usage
/// error that says why and which id would give that key.
#[test]
fn ftok_proj_id_past_255_is_a_usage_error_naming_the_id_it_would_equal() {
    let dir = TempDir::new("ftok-300");
    for (arg, same) in [("300", 44), ("256", 0), ("-1", 255), ("0x1ff", 255)] {
        let out = shmkit(&["ftok", dir.arg(), arg]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{arg}: {out:?}");
        assert_eq!(text(&out.stdout), "", "{arg}");
        assert!(stderr.contains(&format!("'{arg}'")), "{arg}: {stderr}");
        assert!(
            stderr.contains("from 0 to 255") && stderr.contains("low 8 bits"),
            "{arg}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("{arg} would give the same key as {same}")),
            "{arg}: {stderr}"
        );
    }
    // The help says so too.
    let help = text(&shmkit(&["ftok", "--help"]).stdout);
    assert!(help.contains("0 to 255"), "{help}");
}

#[test]
fn ftok_into_a_closed_pipe_is_not_an_error() {
    let dir = TempDir::new("ftok-pipe");
    let mut child = Command::new(BIN)
        .args(["ftok", dir.arg(), "A"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Whether the write comes before or after this close, the outcome is the same.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn demo_delivers_the_message_and_leaves_nothing_behind() {
    let mut demo = Demo::spawn(false, Stdio::null());
    let mut stdout = String::new();
    demo.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = demo.child.wait().unwrap();
    let stderr = demo.stderr();
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(status.success(), "{status}\n{context}");
    assert_eq!(stderr, "", "{context}");

    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("[reader]") && l.contains("message intact")),
        "{context}"
    );
    let rows = rows(&stdout);
    assert!(!rows.is_empty(), "{context}");
    let (id, key) = (rows[0].shmid, rows[0].key);
    assert!(
        rows.iter().all(|r| r.shmid == id && r.key == key),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.who == "reader" && r.nattch == 2),
        "{rows:?}\n{context}"
    );
    assert!(
        rows.iter().any(|r| r.who == "writer" && r.nattch == 1),
        "{rows:?}"
    );

    assert!(!segment_exists(id), "segment {id} is left\n{context}");
    assert_eq!(demo.segments_left(), vec![], "{context}");
    let dir = demo_dir(&stdout).expect("the demo names its directory");
    assert!(dir.starts_with(std::env::temp_dir()), "{dir:?}");
    assert!(fs::symlink_metadata(&dir).is_err(), "{dir:?} is left");
    assert_eq!(demo.dirs_left(), Vec::<PathBuf>::new());
}

#[test]
fn demo_interrupted_by_sigterm_removes_segment_and_directory() {
    // stdin stays open (and the demo paused) until the test is done with it.
    let mut demo = Demo::spawn(true, Stdio::piped());
    let stdin = demo.child.stdin.take();
    let mut stdout = BufReader::new(demo.child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "the demo ended before pausing:\n{seen}");
        seen.push_str(&line);
        if line.contains("waiting for signal") {
            break;
        }
    }
    let rows = rows(&seen);
    let id = rows.last().expect("a segment row before the pause").shmid;
    assert_eq!(rows.last().unwrap().nattch, 1, "{seen}");
    let dir = demo_dir(&seen).expect("the demo names its directory");
    assert!(segment_exists(id), "{seen}");
    assert!(dir.is_dir(), "{seen}");

    let kill = Command::new("kill")
        .args(["-TERM", &demo.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    stdout.read_to_string(&mut seen).unwrap();
    let status = demo.child.wait().unwrap();
    drop(stdin);
    let context = format!("stdout:\n{seen}\nstderr:\n{}", demo.stderr());

    assert!(!status.success(), "{context}");
    assert_eq!(status.code(), Some(128 + 15), "{context}");
    assert!(seen.contains("caught SIGTERM"), "{context}");
    assert!(!segment_exists(id), "segment {id} is left\n{context}");
    assert!(
        fs::symlink_metadata(&dir).is_err(),
        "{dir:?} is left\n{context}"
    );
    assert_eq!(demo.segments_left(), vec![], "{context}");
}

#[test]
fn demo_into_a_closed_pipe_still_runs_to_the_end_and_cleans_up() {
    let mut demo = Demo::spawn(false, Stdio::null());
    // Closed before or after the first write: either way the output is lost, not the demo.
    drop(demo.child.stdout.take());
    let status = demo.child.wait().unwrap();
    let stderr = demo.stderr();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr, "");
    assert_eq!(demo.segments_left(), vec![]);
    assert_eq!(demo.dirs_left(), Vec::<PathBuf>::new());
}

/// Runs the demo's reader against a segment this test wrote.
fn run_reader(key: Key, id: ShmId, expected: &str) -> Output {
    shmkit(&[
        "demo",
        "--reader",
        "--key",
        &key.to_string(),
        "--shmid",
        &id.to_string(),
        "--message",
        expected,
        "--first-step",
        "1",
    ])
}

#[test]
fn demo_reader_checks_the_message_and_distrusts_the_length() {
    let dir = TempDir::new("reader");
    let key = Key::ftok(dir.path(), i32::from(b'R')).unwrap();
    let segment = shmkit::Segment::builder(key)
        .size(64)
        .mode(0o600)
        .create()
        .expect("create a test segment (an ftok collision with an existing key?)")
        .remove_on_drop();
    let map = segment.attach().unwrap();
    map.write_at(4, b"hello").unwrap();

    map.write_at(0, &5u32.to_le_bytes()).unwrap();
    let out = run_reader(key, segment.id(), "hello");
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("message intact"), "{out:?}");

    let out = run_reader(key, segment.id(), "hellO");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stdout).contains("NOT intact"), "{out:?}");
    assert!(text(&out.stderr).starts_with("shmkit: "), "{out:?}");

    // A length that points past the segment is refused, not followed.
    for claimed in [61u32, 4096, u32::MAX] {
        map.write_at(0, &claimed.to_le_bytes()).unwrap();
        let out = run_reader(key, segment.id(), "hello");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{claimed}: {out:?}");
        assert!(stderr.contains("not trusting it"), "{claimed}: {stderr}");
    }

    // A key that leads to another segment than the one named is refused.
    map.write_at(0, &5u32.to_le_bytes()).unwrap();
    let out = run_reader(key, ShmId::from_raw(segment.id().raw() ^ 1), "hello");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("not to the writer's"), "{out:?}");
}
