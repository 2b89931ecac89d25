//! Helpers shared by the peer interoperability tests (`python_peer.rs`, `c_peer_ipc.rs`):
//! fresh ftok keys with retry on collisions, running a peer to completion or line by line,
//! and the data both sides agree on (byte patterns, the message table, the receive plan).
//!
//! The peers (`tests/peers/sysv_peer.py`, `tests/peers/ipc_peer.c`) implement the same
//! conventions:
//! - every command first prints `key 0x%08x pid N` (the key from their own `ftok`), and
//!   `ok` as its last line on success;
//! - exit status 0 success, 2 usage, 3 a call failed, 4 a check failed, 5 the key is taken
//!   (an exclusive create found an object: the test retries with another project id);
//! - a peer that fails after creating an object removes it before exiting.
#![allow(dead_code, unreachable_pub, missing_docs)]

use shmkit::{ErrorKind, Key, MessageQueue, RecvOptions, Selector};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Exit status of a peer whose check failed.
pub const EXIT_MISMATCH: i32 = 4;
/// Exit status of a peer whose exclusive create found the key taken.
pub const EXIT_EXISTS: i32 = 5;

/// How long a test waits for a peer's next line before declaring it hung. Not a timing
/// assertion: it only turns a deadlock into a failure with the peer's stderr, instead of a
/// test run that never ends.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// Project ids to try in turn, starting with `first`: 1..=255 (0 is avoided), all distinct.
pub fn proj_ids(first: i32) -> impl Iterator<Item = i32> {
    (0..64).map(move |i| (first - 1 + i * 37).rem_euclid(255) + 1)
}

/// Creates an object under `ftok(dir, proj)` with `create` (which should wrap it in its
/// remove-on-drop guard at once), moving to the next project id while the key is taken
/// (two inodes that agree in their low 16 bits give the same key).
pub fn create_fresh<T>(
    dir: &Path,
    first_proj: i32,
    mut create: impl FnMut(Key) -> shmkit::Result<T>,
) -> (i32, Key, T) {
    for proj in proj_ids(first_proj) {
        let key = Key::ftok(dir, proj).expect("ftok on the test directory");
        match create(key) {
            Ok(object) => return (proj, key, object),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("creating an object under {key}: {e}"),
        }
    }
    panic!("every project id gave a key that is taken");
}

/// Has a peer create an object under `ftok(dir, proj)`: `attempt` runs the peer and
/// returns `None` when it reported [`EXIT_EXISTS`] (nothing of ours to guard then), and the
/// next project id is tried.
pub fn peer_creates<T>(
    dir: &Path,
    first_proj: i32,
    mut attempt: impl FnMut(i32, Key) -> Option<T>,
) -> (i32, Key, T) {
    for proj in proj_ids(first_proj) {
        let key = Key::ftok(dir, proj).expect("ftok on the test directory");
        if let Some(t) = attempt(proj, key) {
            return (proj, key, t);
        }
    }
    panic!("every project id gave a key that is taken");
}

/// What a peer that ran to completion printed.
#[derive(Debug)]
pub struct PeerOutput {
    pub what: String,
    pub status: ExitStatus,
    pub lines: Vec<String>,
    pub stderr: String,
}

impl PeerOutput {
    /// The exit code (None if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Whether the peer's exclusive create found the key taken.
    pub fn key_taken(&self) -> bool {
        self.code() == Some(EXIT_EXISTS)
    }

    /// Panics with everything the peer said unless it succeeded and printed `ok` last.
    pub fn assert_ok(&self) {
        assert!(
            self.status.success() && self.lines.last().map(String::as_str) == Some("ok"),
            "{} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.status,
            self.lines.join("\n"),
            self.stderr
        );
    }

    /// The words after `name` on the first line that starts with it.
    pub fn field(&self, name: &str) -> Vec<&str> {
        self.lines
            .iter()
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(name)).then(|| words.collect())
            })
            .unwrap_or_else(|| {
                panic!(
                    "{} printed no {name:?} line:\n{}\nstderr:\n{}",
                    self.what,
                    self.lines.join("\n"),
                    self.stderr
                )
            })
    }

    /// Every line that starts with `name`, without it.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
            .collect()
    }

    /// The key the peer computed with its own `ftok`.
    pub fn key(&self) -> Key {
        parse_key_line(&self.field("key"))
    }

    /// The peer's pid.
    pub fn pid(&self) -> i32 {
        parse_pid_line(&self.field("key"))
    }
}

fn parse_key_line(words: &[&str]) -> Key {
    words[0].parse().expect("the peer prints its key as 0x%08x")
}

fn parse_pid_line(words: &[&str]) -> i32 {
    assert_eq!(words.get(1), Some(&"pid"), "key line: {words:?}");
    words[2].parse().expect("the peer prints its pid")
}

/// Runs a peer to completion (peers run this way never block on IPC: they use no-wait
/// operations on objects that are ready).
pub fn run(what: &str, mut cmd: Command) -> PeerOutput {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    PeerOutput {
        what: what.to_owned(),
        status: out.status,
        lines: String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A peer running alongside the test, read line by line: for handoffs where one side
/// blocks on an IPC object until the other acts.
///
/// When the peer's output ends without `ok` (it failed or died), `on_failure` runs with
/// the lines it printed: it should remove the IPC objects the test may be blocked on, so
/// that the test wakes with an error instead of waiting forever. Dropping the handle kills the peer if it still runs
/// and waits for `on_failure` to have run, so declare it after the guards of the objects
/// it may remove (it is then dropped before them).
pub struct LivePeer {
    what: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
    said: Vec<String>,
    pid: i32,
    key: Key,
}

impl LivePeer {
    /// Starts the peer and reads its `key … pid …` line.
    pub fn spawn(
        what: &str,
        mut cmd: Command,
        on_failure: impl FnOnce(&[String]) + Send + 'static,
    ) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut said = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                said.push(line.clone());
                // The receiver may be gone (the test is over): keep draining.
                let _ = tx.send(line);
            }
            if said.last().map(String::as_str) != Some("ok") {
                on_failure(&said);
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            text
        });
        let mut peer = LivePeer {
            what: what.to_owned(),
            child,
            lines,
            reader: Some(reader),
            stderr: Some(stderr),
            said: Vec::new(),
            pid: 0,
            key: Key::PRIVATE,
        };
        let words = peer.expect("key");
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        peer.key = parse_key_line(&words);
        peer.pid = parse_pid_line(&words);
        peer
    }

    /// The key the peer computed with its own `ftok`.
    pub fn key(&self) -> Key {
        self.key
    }

    /// The peer's pid, as it printed it.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The next line, waiting for it.
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(HANG_GUARD) {
            Ok(line) => {
                self.said.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => {
                self.fail(&format!("said nothing for {HANG_GUARD:?}"))
            }
            Err(RecvTimeoutError::Disconnected) => self.fail("ended its output"),
        }
    }

    /// The next line, which must start with the word `name`; returns the words after it.
    pub fn expect(&mut self, name: &str) -> Vec<String> {
        let line = self.line();
        let mut words = line.split_whitespace();
        if words.next() != Some(name) {
            self.fail(&format!("printed {line:?}, expected a {name:?} line"));
        }
        words.map(str::to_owned).collect()
    }

    /// Like [`LivePeer::expect`], but `None` when the peer ended because its exclusive
    /// create found the key taken ([`EXIT_EXISTS`]).
    pub fn expect_or_taken(&mut self, name: &str) -> Option<Vec<String>> {
        match self.lines.recv_timeout(HANG_GUARD) {
            Ok(line) => {
                self.said.push(line.clone());
                let mut words = line.split_whitespace();
                if words.next() != Some(name) {
                    self.fail(&format!("printed {line:?}, expected a {name:?} line"));
                }
                Some(words.map(str::to_owned).collect())
            }
            Err(RecvTimeoutError::Disconnected)
                if self.child.wait().ok().and_then(|s| s.code()) == Some(EXIT_EXISTS) =>
            {
                None
            }
            Err(RecvTimeoutError::Timeout) => {
                self.fail(&format!("said nothing for {HANG_GUARD:?}"))
            }
            Err(RecvTimeoutError::Disconnected) => self.fail("ended its output"),
        }
    }

    /// Waits for the peer's `ok` and its successful exit.
    pub fn finish(mut self) {
        loop {
            if self.line() == "ok" {
                break;
            }
        }
        let status = self.child.wait().expect("waiting for the peer");
        if !status.success() {
            self.fail(&format!("printed ok but exited with {status}"));
        }
    }

    /// Panics with everything the peer said (killing it first if it still runs).
    pub fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let status = match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(e) => format!("unknown: {e}"),
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.said.extend(self.lines.try_iter());
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        panic!(
            "{}: {why} (peer {status})\nstdout:\n{}\nstderr:\n{stderr}",
            self.what,
            self.said.join("\n")
        );
    }

    /// Panics with the peer's output if `result` is an error (the test side's call failed,
    /// typically because the peer died and `on_failure` removed the object).
    pub fn check<T, E: std::fmt::Display>(&mut self, result: Result<T, E>, what: &str) -> T {
        match result {
            Ok(t) => t,
            Err(e) => self.fail(&format!("{what} failed: {e}")),
        }
    }
}

impl Drop for LivePeer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // `on_failure` has run (or never will) once the reader is done.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// What both sides agree on.

/// The byte a segment's creator writes at offset `i`.
pub fn pattern_a(i: usize) -> u8 {
    (i.wrapping_mul(31).wrapping_add(7)) as u8
}

/// The byte the other side writes at offset `i`.
pub fn pattern_b(i: usize) -> u8 {
    (i.wrapping_mul(17).wrapping_add(3)) as u8
}

/// The messages every sender sends, in this order: `(mtype, body length)`, seq = index.
/// The text of message `seq` is `#<seq>:` followed by the body bytes of [`body_byte`].
pub const MESSAGES: [(i64, usize); 7] = [
    (3, 10),
    (1, 0),
    (2, 300),
    (1, 5),
    (5, 4000),
    (2, 1),
    (4, 64),
];

/// Byte `i` of message `seq`'s body (zero bytes included).
pub fn body_byte(seq: usize, i: usize) -> u8 {
    (seq * 29 + i * 13 + 1) as u8
}

/// Message `seq`: its type and text.
pub fn message(seq: usize) -> (i64, Vec<u8>) {
    let (mtype, len) = MESSAGES[seq];
    let mut text = format!("#{seq}:").into_bytes();
    text.extend((0..len).map(|i| body_byte(seq, i)));
    (mtype, text)
}

/// The seq of a received message, checked against the table: type, length and every byte.
/// `truncated_to`: the receive buffer's size when the message may have been cut.
pub fn check_message(
    mtype: i64,
    text: &[u8],
    truncated_to: Option<usize>,
) -> Result<usize, String> {
    let seq = text
        .strip_prefix(b"#")
        .and_then(|rest| {
            let end = rest.iter().position(|&b| b == b':')?;
            std::str::from_utf8(&rest[..end])
                .ok()?
                .parse::<usize>()
                .ok()
        })
        .filter(|&seq| seq < MESSAGES.len())
        .ok_or_else(|| format!("not a table message: {:?}", &text[..text.len().min(16)]))?;
    let (want_type, want_text) = message(seq);
    if mtype != want_type {
        return Err(format!(
            "message #{seq} has type {mtype}, expected {want_type}"
        ));
    }
    let want = match truncated_to {
        Some(n) => &want_text[..want_text.len().min(n)],
        None => &want_text[..],
    };
    if text.len() != want.len() {
        return Err(format!(
            "message #{seq} has {} bytes, expected {}",
            text.len(),
            want.len()
        ));
    }
    if let Some(i) = text.iter().zip(want).position(|(a, b)| a != b) {
        return Err(format!(
            "message #{seq}: byte {i} is {}, expected {}",
            text[i], want[i]
        ));
    }
    Ok(seq)
}

/// The receive plan of the Rust and C receivers: `(selector, expected seq)` over the table,
/// sent in order. Covers every selector kind; see [`receive_by_plan`] for the truncation step.
pub const PLAN: [(Selector, usize); 6] = [
    (Selector::Type(2), 2),   // exactly type 2: the first of them
    (Selector::UpTo(2), 1),   // the lowest type ≤ 2: type 1, first of them
    (Selector::Except(1), 0), // anything but type 1: the oldest such
    (Selector::UpTo(4), 3),   // lowest type ≤ 4: the other type 1
    (Selector::Any, 5),       // after #4 was taken (truncated) by type: FIFO
    (Selector::Any, 6),
];

/// The buffer size of the truncation step (message #4 is longer).
pub const TRUNCATE_TO: usize = 100;

/// Receives the table from `queue` by [`PLAN`] with no-wait receives, checking every
/// message, and returns `(mtype, seq, len)` in the order received. Between the fourth and
/// fifth step, message #4 (type 5) is first refused into a small buffer (`TooBig`, it stays
/// queued) and then taken truncated. Ends by checking the queue is empty (`NoMessage`).
pub fn receive_by_plan(queue: &MessageQueue) -> Result<Vec<(i64, usize, usize)>, String> {
    let no_wait = RecvOptions::new().no_wait();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    for (step, &(selector, want)) in PLAN.iter().enumerate() {
        if step == 4 {
            let mut small = [0u8; TRUNCATE_TO];
            match queue.recv_with(Selector::Type(5), &mut small, no_wait) {
                Err(e) if e.kind() == ErrorKind::TooBig => {}
                other => return Err(format!("a too-long message into a small buffer: {other:?}")),
            }
            let (mtype, len) = queue
                .recv_with(Selector::Type(5), &mut small, no_wait.truncate())
                .map_err(|e| format!("truncating receive: {e}"))?;
            let seq = check_message(mtype, &small[..len], Some(TRUNCATE_TO))?;
            if seq != 4 || len != TRUNCATE_TO {
                return Err(format!("truncated receive gave #{seq} of {len} bytes"));
            }
            got.push((mtype, seq, len));
        }
        let (mtype, len) = queue
            .recv_with(selector, &mut buf, no_wait)
            .map_err(|e| format!("step {step} ({selector:?}): {e}"))?;
        let seq = check_message(mtype, &buf[..len], None)?;
        if seq != want {
            return Err(format!(
                "{selector:?} gave message #{seq}, expected #{want}"
            ));
        }
        got.push((mtype, seq, len));
    }
    match queue.recv_with(Selector::Any, &mut buf, no_wait) {
        Err(e) if e.kind() == ErrorKind::NoMessage => Ok(got),
        other => Err(format!("the queue should be empty: {other:?}")),
    }
}

/// What [`receive_by_plan`] returns when all is well.
pub fn plan_result() -> Vec<(i64, usize, usize)> {
    let order = [2, 1, 0, 3, 4, 5, 6];
    order
        .iter()
        .map(|&seq| {
            let (mtype, text) = message(seq);
            let len = if seq == 4 { TRUNCATE_TO } else { text.len() };
            (mtype, seq, len)
        })
        .collect()
}

/// Sends the whole table (without waiting: it fits the default queue size).
pub fn send_table(queue: &MessageQueue) -> shmkit::Result<()> {
    for seq in 0..MESSAGES.len() {
        let (mtype, text) = message(seq);
        queue.try_send(mtype, &text)?;
    }
    Ok(())
}

/// Total bytes of text in the table.
pub fn table_bytes() -> usize {
    (0..MESSAGES.len()).map(|seq| message(seq).1.len()).sum()
}

/// Builds a C program from `tests/peers/<source>` with the system's C compiler, cached in
/// Cargo's per-target temporary directory under a name derived from the source, the
/// compiler and the flags (built under a temporary name, then renamed: concurrent test
/// processes never see a half-written binary).
pub fn build_c(source: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    const FLAGS: [&str; 5] = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"];
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(source);
    let text = std::fs::read(&src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&text, &cc, FLAGS).hash(&mut h);
    let stem = source.trim_end_matches(".c");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = dir.join(format!("{stem}-{:016x}", h.finish()));
    if out.exists() {
        return out;
    }
    let tmp = dir.join(format!("{stem}.{}.tmp", std::process::id()));
    let output = Command::new(&cc)
        .args(FLAGS)
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler {cc:?} ({e}): install gcc (apt-get install gcc)")
        });
    assert!(
        output.status.success(),
        "compiling {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&tmp, &out).expect("moving the compiled peer into place");
    out
}
