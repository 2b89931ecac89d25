//! Helpers shared by the integration tests: unique keys, temporary directories, a probe
//! that re-runs the test binary as another process (optionally as `nobody`), and the C peer.
#![allow(dead_code, unreachable_pub, missing_docs)]

use shmkit::{ErrorKind, Key, RemoveOnDrop, Segment};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The uid and gid tests drop to for "another user" cases.
pub const NOBODY: u32 = 65534;

/// A random 64-bit number (std's per-process random hasher keys, mixed with a counter).
pub fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// A key that names no object right now (random; checked with an exclusive create by the
/// callers, which retry on `AlreadyExists`).
pub fn random_key() -> Key {
    loop {
        let raw = random_u64() as i32;
        if raw != 0 {
            return Key::from_raw(raw);
        }
    }
}

/// Creates a segment under a fresh random key, removed when the guard drops.
pub fn keyed_segment(size: usize, mode: u32) -> RemoveOnDrop<Segment> {
    for _ in 0..100 {
        match Segment::builder(random_key())
            .size(size)
            .mode(mode)
            .create()
        {
            Ok(seg) => return seg.remove_on_drop(),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("creating a test segment: {e}"),
        }
    }
    panic!("no free key found in 100 tries");
}

/// Creates a private segment, removed when the guard drops.
pub fn private_segment(size: usize) -> RemoveOnDrop<Segment> {
    Segment::create(Key::PRIVATE, size)
        .expect("creating a private segment")
        .remove_on_drop()
}

/// A temporary directory, removed (recursively) on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "shmkit-test-{tag}-{}-{:016x}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir(&path).expect("creating a temporary directory");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn is_root() -> bool {
    shmkit::info::effective_uid() == 0
}

/// Skips (returns true and says why) when not root.
pub fn skip_unless_root(why: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED: needs root to {why}");
    true
}

/// Directories made once per test process and removed when it exits (statics are never
/// dropped, so an `atexit` handler does it).
fn process_dir(tag: &str) -> PathBuf {
    static DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    static REGISTER: std::sync::Once = std::sync::Once::new();
    extern "C" fn remove_all() {
        if let Ok(dirs) = DIRS.lock() {
            for dir in dirs.iter() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    REGISTER.call_once(|| {
        // SAFETY: `remove_all` is a plain extern "C" fn that is valid for the whole process.
        unsafe { libc::atexit(remove_all) };
    });
    let dir = TempDir::new(tag);
    let path = dir.0.clone();
    std::mem::forget(dir);
    DIRS.lock().unwrap().push(path.clone());
    path
}

/// A copy of the running test binary in a world-readable directory, so that a child
/// dropped to `nobody` can execute it wherever the build directory is.
fn probe_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let path = process_dir("probe").join("probe");
        std::fs::copy(std::env::current_exe().unwrap(), &path).expect("copying the test binary");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    })
}

/// How to run a probe.
#[derive(Default, Clone, Copy)]
pub struct ProbeOptions {
    /// Run as this uid and gid (and no supplementary groups).
    pub as_user: Option<u32>,
    /// Set RLIMIT_MEMLOCK to 0 first.
    pub no_memlock: bool,
    /// Run inside a new IPC namespace (`unshare --ipc`).
    pub new_ipc_namespace: bool,
}

/// The outcome of a probe: the line it printed after `PROBE:` (or its death).
#[derive(Debug)]
pub struct ProbeResult {
    pub line: Option<String>,
    pub output: Output,
}

impl ProbeResult {
    pub fn result(&self) -> &str {
        self.line.as_deref().unwrap_or_else(|| {
            panic!(
                "the probe printed no result; status {:?}\nstdout:\n{}\nstderr:\n{}",
                self.output.status,
                String::from_utf8_lossy(&self.output.stdout),
                String::from_utf8_lossy(&self.output.stderr)
            )
        })
    }

    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.output.status.signal()
    }
}

/// A probe running in the background, whose stdout lines can be awaited.
pub struct RunningProbe {
    pub child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl RunningProbe {
    /// Reads stdout until a line containing `PROBE: ` and returns what follows it.
    pub fn next_result(&mut self) -> String {
        for line in self.lines.by_ref() {
            let line = line.expect("reading the probe's output");
            if let Some((_, rest)) = line.split_once("PROBE: ") {
                return rest.to_owned();
            }
        }
        panic!("the probe ended without printing a result");
    }

    /// Kills the probe with SIGKILL and reaps it.
    pub fn kill(mut self) -> std::process::ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("waiting for the probe")
    }

    /// Waits for the probe to end and returns its last result line.
    pub fn finish(mut self) -> String {
        let result = self.next_result();
        let _ = self.child.wait();
        result
    }
}

impl Drop for RunningProbe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `op args…` in a new process (see [`run_probe`]) and returns at once.
pub fn spawn_probe(op: &[&str], opts: ProbeOptions) -> RunningProbe {
    let mut cmd = probe_command(op, opts);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    // ETXTBSY and EAGAIN are transient (another thread forking while a file is open for
    // writing; a momentary process limit): try again a bounded number of times.
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(child) => break child,
            Err(e)
                if tries < 200
                    && matches!(e.raw_os_error(), Some(libc::ETXTBSY | libc::EAGAIN)) =>
            {
                tries += 1;
                std::thread::yield_now();
            }
            Err(e) => panic!("spawning the probe {op:?}: {e}"),
        }
    };
    let stdout = child.stdout.take().unwrap();
    use std::io::BufRead;
    RunningProbe {
        child,
        lines: std::io::BufReader::new(stdout).lines(),
    }
}

/// Runs `op args…` in a new process: this test binary's ignored `probe` test, which must be
/// declared in the calling test file as `#[test] #[ignore] fn probe() { common::probe_main() }`.
pub fn run_probe(op: &[&str], opts: ProbeOptions) -> ProbeResult {
    let output = probe_command(op, opts)
        .output()
        .expect("spawning the probe");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("PROBE: ").map(|(_, rest)| rest))
        .map(str::to_owned);
    ProbeResult { line, output }
}

fn probe_command(op: &[&str], opts: ProbeOptions) -> Command {
    let bin = probe_binary();
    let mut cmd = if opts.new_ipc_namespace {
        let mut c = Command::new("unshare");
        c.arg("--ipc").arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args([
        "--ignored",
        "--exact",
        "probe",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SHMKIT_PROBE", op.join(" "));
    if let Some(uid) = opts.as_user {
        cmd.uid(uid).gid(uid);
    }
    if opts.no_memlock {
        // SAFETY: setrlimit is async-signal-safe; the closure touches no shared state.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd
}

fn outcome<T>(r: shmkit::Result<T>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("{:?}", e.kind()),
    }
}

/// The probe's body: does one operation named by `$SHMKIT_PROBE` through shmkit and prints
/// `PROBE: <outcome>`; does nothing without it.
pub fn probe_main() {
    let Ok(spec) = std::env::var("SHMKIT_PROBE") else {
        return;
    };
    let args: Vec<&str> = spec.split(' ').collect();
    let key = |i: usize| args[i].parse::<Key>().expect("probe key");
    let num = |i: usize| args[i].parse::<usize>().expect("probe number");
    let mode = |i: usize| u32::from_str_radix(args[i], 8).expect("probe mode");
    let result = match args[0] {
        // shmget KEY SIZE MODE: open with a permission request
        "open" => outcome(
            Segment::builder(key(1)).size(num(2)).mode(mode(3)).open(),
            |_| "ok".into(),
        ),
        // create KEY SIZE MODE: create and keep (the caller removes it)
        "create" => outcome(
            Segment::builder(key(1)).size(num(2)).mode(mode(3)).create(),
            |s| format!("ok {}", s.id()),
        ),
        "create-huge" => outcome(
            Segment::builder(shmkit::Key::PRIVATE)
                .size(num(1))
                .huge_pages(shmkit::HugePageSize::Size2MiB)
                .create()
                .map(|s| s.remove_on_drop()),
            |_| "ok".into(),
        ),
        // open-or-create KEY SIZE MODE: prints the squatting reason when refused
        "open-or-create" => match Segment::builder(key(1))
            .size(num(2))
            .mode(mode(3))
            .open_or_create()
        {
            Ok(s) => format!("ok created={}", s.created()),
            Err(e) => match e.squatting_reason() {
                Some(why) => format!("{:?} {why:?}", e.kind()),
                None => format!("{:?}", e.kind()),
            },
        },
        // own-mode0 SIZE: create a mode-0 segment (unreadable even to us), then chmod it
        "own-mode0" => {
            let seg = Segment::builder(Key::PRIVATE)
                .size(num(1))
                .mode(0)
                .create()
                .unwrap()
                .remove_on_drop();
            let stat_denied = seg
                .stat()
                .map(|_| "stat ok".to_string())
                .unwrap_or_else(|e| format!("{:?}", e.kind()));
            let chmod = outcome(seg.set_mode(0o640), |_| "ok".into());
            let after = outcome(seg.stat(), |s| format!("{:o}", s.mode));
            format!("{stat_denied} {chmod} {after}")
        }
        "attach" => outcome(
            Segment::open(key(1)).and_then(|s| s.attach().map(drop)),
            |_| "ok".into(),
        ),
        "attach-ro" => outcome(
            Segment::open(key(1)).and_then(|s| s.attach_read_only().map(drop)),
            |_| "ok".into(),
        ),
        "stat" => outcome(Segment::open(key(1)).and_then(|s| s.stat()), |_| {
            "ok".into()
        }),
        "remove" => outcome(Segment::open(key(1)).and_then(|s| s.remove()), |_| {
            "ok".into()
        }),
        "set-mode" => outcome(
            Segment::open(key(1)).and_then(|s| s.set_mode(0o666)),
            |_| "ok".into(),
        ),
        "set-owner" => outcome(
            Segment::open(key(1)).and_then(|s| s.set_owner(NOBODY, NOBODY)),
            |_| "ok".into(),
        ),
        "lock" => outcome(Segment::open(key(1)).and_then(|s| s.lock()), |_| {
            "ok".into()
        }),
        "unlock" => outcome(Segment::open(key(1)).and_then(|s| s.unlock()), |_| {
            "ok".into()
        }),
        // write-ro KEY: attach read-only, then write through the raw pointer: SIGSEGV
        "write-ro" => {
            let seg = Segment::open(key(1)).expect("open");
            let map = seg.attach_read_only().expect("attach read-only");
            println!("PROBE: attached");
            // SAFETY: deliberately wrong: the mapping is read-only and the test expects the
            // kernel to kill this process with SIGSEGV.
            unsafe { map.as_ptr().cast_mut().write_volatile(1) };
            "wrote".into()
        }
        // write-after-detach KEY: keep the address, detach, write: SIGSEGV
        "write-after-detach" => {
            let seg = Segment::open(key(1)).expect("open");
            let map = seg.attach().expect("attach");
            let ptr = map.as_mut_ptr();
            map.detach().expect("detach");
            println!("PROBE: detached");
            // SAFETY: deliberately wrong: the memory is unmapped and the test expects SIGSEGV.
            unsafe { ptr.write_volatile(1) };
            "wrote".into()
        }
        // enospc LIMIT: in a private IPC namespace, set shmmni and create until refused
        "enospc" => {
            std::fs::write("/proc/sys/kernel/shmmni", args[1]).expect("writing shmmni");
            let mut made = Vec::new();
            let r = loop {
                match Segment::create(Key::PRIVATE, 4096) {
                    Ok(s) => made.push(s.remove_on_drop()),
                    Err(e) => break format!("{:?} after {}", e.kind(), made.len()),
                }
                if made.len() > 10_000 {
                    break "no limit".into();
                }
            };
            r
        }
        // sem-hold KEY: take the SemLock on semaphore 0, say so, then wait to be killed
        "sem-hold" => {
            let lock = shmkit::SemLock::new(shmkit::SemaphoreSet::open(key(1)).unwrap(), 0);
            let _held = lock.lock().unwrap();
            println!("PROBE: holding");
            let mut sink = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink);
            "released".into()
        }
        // sem-wait KEY: wait for semaphore 0 to be positive, then report how the wait ended
        "sem-wait" => outcome(
            shmkit::SemaphoreSet::open(key(1)).and_then(|s| s.op(&[shmkit::SemOp::new(0, -1)])),
            |_| "ok".into(),
        ),
        // sem-wait-intr KEY: like sem-wait, but a SIGUSR1 (with a handler) ends the wait
        "sem-wait-intr" => {
            extern "C" fn on_signal(_: libc::c_int) {}
            // SAFETY: installs a handler that does nothing, without SA_RESTART.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as usize;
                libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
            }
            outcome(
                shmkit::SemaphoreSet::open(key(1))
                    .and_then(|s| s.op_interruptible(&[shmkit::SemOp::new(0, -1)])),
                |_| "ok".into(),
            )
        }
        // undo-limit KEY: +1 with SEM_UNDO until the kernel refuses
        "undo-limit" => {
            let set = shmkit::SemaphoreSet::open(key(1)).unwrap();
            let mut n = 0u32;
            loop {
                match set.op(&[shmkit::SemOp::new(0, 1).undo()]) {
                    Ok(()) => n += 1,
                    Err(e) => break format!("{:?} after {n}", e.kind()),
                }
                if n > 100_000 {
                    break "no limit".into();
                }
            }
        }
        // msg-recv-block KEY: a blocking receive; reports how it ended
        "msg-recv-block" => {
            let mut buf = [0u8; 64];
            outcome(
                shmkit::MessageQueue::open(key(1))
                    .and_then(|q| q.recv(shmkit::Selector::Any, &mut buf)),
                |(t, n)| format!("ok {t} {n}"),
            )
        }
        // msg-send-block KEY: a blocking send into a (full) queue; reports how it ended
        "msg-send-block" => outcome(
            shmkit::MessageQueue::open(key(1)).and_then(|q| q.send(1, b"x")),
            |_| "ok".into(),
        ),
        // msg-echo KEY N: N times, receive a type-1 request and send it back as type 2
        "msg-echo" => {
            let q = shmkit::MessageQueue::open(key(1)).unwrap();
            let mut buf = [0u8; 256];
            for _ in 0..num(2) {
                let (_, n) = q.recv(shmkit::Selector::Type(1), &mut buf).unwrap();
                q.send(2, &buf[..n]).unwrap();
            }
            "echoed".into()
        }
        // msg-sender KEY ID M: send M messages of type ID+1 carrying "ID:seq"
        "msg-sender" => {
            let q = shmkit::MessageQueue::open(key(1)).unwrap();
            let id = num(2);
            for seq in 0..num(3) {
                q.send(id as i64 + 1, format!("{id}:{seq}").as_bytes())
                    .unwrap();
            }
            "sent".into()
        }
        // msg-receiver KEY: receive any message until one of type 999; print each
        "msg-receiver" => {
            let q = shmkit::MessageQueue::open(key(1)).unwrap();
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            loop {
                let (t, n) = q.recv(shmkit::Selector::Any, &mut buf).unwrap();
                if t == 999 {
                    break;
                }
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            format!("got {}", got.join(","))
        }
        // enospc-sem LIMIT / enospc-msg LIMIT: in a private IPC namespace
        "enospc-sem" => {
            std::fs::write("/proc/sys/kernel/sem", format!("250 32000 32 {}", args[1]))
                .expect("writing sem");
            let mut made = Vec::new();
            loop {
                match shmkit::SemaphoreSet::create(Key::PRIVATE, 1) {
                    Ok(s) => made.push(s.remove_on_drop()),
                    Err(e) => break format!("{:?} after {}", e.kind(), made.len()),
                }
                if made.len() > 10_000 {
                    break "no limit".into();
                }
            }
        }
        "enospc-msg" => {
            std::fs::write("/proc/sys/kernel/msgmni", args[1]).expect("writing msgmni");
            let mut made = Vec::new();
            loop {
                match shmkit::MessageQueue::create(Key::PRIVATE) {
                    Ok(q) => made.push(q.remove_on_drop()),
                    Err(e) => break format!("{:?} after {}", e.kind(), made.len()),
                }
                if made.len() > 10_000 {
                    break "no limit".into();
                }
            }
        }
        // sem-op KEY NUM DELTA: one operation (no wait) as this user
        "sem-op" => outcome(
            shmkit::SemaphoreSet::open(key(1)).and_then(|s| {
                s.op(&[
                    shmkit::SemOp::new(args[2].parse().unwrap(), args[3].parse().unwrap())
                        .no_wait(),
                ])
            }),
            |_| "ok".into(),
        ),
        "sem-open" => outcome(
            shmkit::SemaphoreSet::builder(key(1)).mode(mode(2)).open(),
            |_| "ok".into(),
        ),
        "sem-getval" => outcome(
            shmkit::SemaphoreSet::open(key(1)).and_then(|s| s.value(0)),
            |v| format!("ok {v}"),
        ),
        "sem-remove" => outcome(
            shmkit::SemaphoreSet::open(key(1)).and_then(|s| s.remove()),
            |_| "ok".into(),
        ),
        "sem-set-mode" => outcome(
            shmkit::SemaphoreSet::open(key(1)).and_then(|s| s.set_mode(0o666)),
            |_| "ok".into(),
        ),
        "msg-open" => outcome(
            shmkit::MessageQueue::builder(key(1)).mode(mode(2)).open(),
            |_| "ok".into(),
        ),
        "msg-send" => outcome(
            shmkit::MessageQueue::open(key(1)).and_then(|q| q.try_send(1, b"x")),
            |_| "ok".into(),
        ),
        "msg-recv" => {
            let mut buf = [0u8; 16];
            outcome(
                shmkit::MessageQueue::open(key(1)).and_then(|q| {
                    q.recv_with(
                        shmkit::Selector::Any,
                        &mut buf,
                        shmkit::RecvOptions::new().no_wait(),
                    )
                }),
                |_| "ok".into(),
            )
        }
        "msg-stat" => outcome(
            shmkit::MessageQueue::open(key(1)).and_then(|q| q.stat()),
            |_| "ok".into(),
        ),
        "msg-remove" => outcome(
            shmkit::MessageQueue::open(key(1)).and_then(|q| q.remove()),
            |_| "ok".into(),
        ),
        "msg-set-mode" => outcome(
            shmkit::MessageQueue::open(key(1)).and_then(|q| q.set_mode(0o666)),
            |_| "ok".into(),
        ),
        "msg-raise-qbytes" => outcome(
            shmkit::MessageQueue::open(key(1)).and_then(|q| {
                let limit = shmkit::info::msg_limits()?.msgmnb;
                q.set_max_bytes(limit + 1)
            }),
            |_| "ok".into(),
        ),
        // namespace-listing: in a private IPC namespace, make segments of several kinds and
        // check that /proc and the syscalls list exactly them, and that shm_next_id works.
        "namespace-listing" => namespace_listing(),
        other => panic!("unknown probe op {other}"),
    };
    println!("PROBE: {result}");
}

fn namespace_listing() -> String {
    use shmkit::info;
    if !info::segments().unwrap().is_empty() {
        return "namespace not empty".into();
    }
    // shmget05: shm_next_id picks the next id (above 32768 here).
    std::fs::write("/proc/sys/kernel/shm_next_id", "40000").expect("writing shm_next_id");
    let a = Segment::builder(Key::from_raw(0x5eed_0001))
        .size(1)
        .mode(0o644)
        .create()
        .unwrap();
    if a.id().raw() != 40000 {
        return format!("shm_next_id ignored: id {}", a.id());
    }
    let next: i64 = std::fs::read_to_string("/proc/sys/kernel/shm_next_id")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if next != -1 {
        return format!("shm_next_id not reset: {next}");
    }
    let b = Segment::builder(Key::PRIVATE)
        .size(70_000)
        .mode(0o400)
        .create()
        .unwrap();
    let c = Segment::builder(Key::from_raw(-2))
        .size(4096)
        .create()
        .unwrap();
    let map = c.attach().unwrap();
    c.remove().unwrap(); // dest, still attached
    b.lock().unwrap();
    let mut proc_rows = info::segments().unwrap();
    let mut sys_rows = info::segments_from_syscalls().unwrap();
    for r in &mut proc_rows {
        if r.rss.is_none() || r.swap.is_none() {
            return "no rss/swap in /proc".into();
        }
        r.rss = None;
        r.swap = None;
    }
    proc_rows.sort_by_key(|r| r.id);
    sys_rows.sort_by_key(|r| r.id);
    if proc_rows != sys_rows {
        return format!("sources differ:\n{proc_rows:#?}\n{sys_rows:#?}");
    }
    let mut stats = vec![a.stat().unwrap(), b.stat().unwrap(), c.stat().unwrap()];
    stats.sort_by_key(|r| r.id);
    if proc_rows != stats {
        return format!("listing differs from IPC_STAT:\n{proc_rows:#?}\n{stats:#?}");
    }
    let usage = info::shm_usage().unwrap();
    if usage.segments != 3 {
        return format!("SHM_INFO counts {} segments", usage.segments);
    }
    let flags: Vec<(bool, bool)> = proc_rows.iter().map(|r| (r.dest, r.locked)).collect();
    drop(map);
    format!("ok {} {:?}", proc_rows.len(), flags)
}

/// Polls `cond` until it holds: for waiting on kernel state that another process changes
/// (a waiter count, a syscall in progress). Yields between polls; gives up after a minute
/// so that a broken test fails instead of hanging.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::yield_now();
    }
}

/// Whether some thread of process `pid` is inside system call `nr` (from
/// `/proc/PID/task/*/syscall`, whose first field is the syscall number).
pub fn in_syscall(pid: u32, nr: i64) -> bool {
    thread_in_syscall(pid, nr).is_some()
}

/// The id of a thread of process `pid` that is inside system call `nr`.
pub fn thread_in_syscall(pid: u32, nr: i64) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.flatten().find_map(|t| {
        let text = std::fs::read_to_string(t.path().join("syscall")).ok()?;
        let current: i64 = text.split_whitespace().next()?.parse().ok()?;
        if current == nr {
            t.file_name().to_str()?.parse().ok()
        } else {
            None
        }
    })
}

/// Creates a semaphore set under a fresh random key, removed when the guard drops.
pub fn keyed_sem(count: usize, mode: u32) -> RemoveOnDrop<shmkit::SemaphoreSet> {
    for _ in 0..100 {
        match shmkit::SemaphoreSet::builder(random_key())
            .count(count)
            .mode(mode)
            .create()
        {
            Ok(s) => return s.remove_on_drop(),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("creating a test semaphore set: {e}"),
        }
    }
    panic!("no free key found in 100 tries");
}

/// Creates a message queue under a fresh random key, removed when the guard drops.
pub fn keyed_queue(mode: u32) -> RemoveOnDrop<shmkit::MessageQueue> {
    for _ in 0..100 {
        match shmkit::MessageQueue::builder(random_key())
            .mode(mode)
            .create()
        {
            Ok(q) => return q.remove_on_drop(),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("creating a test queue: {e}"),
        }
    }
    panic!("no free key found in 100 tries");
}

/// Builds the C peer (`tests/peers/shm_peer.c`) with the system's C compiler, once.
pub fn c_peer() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = process_dir("cpeer").join("shm_peer");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/shm_peer.c");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let status = Command::new(&cc)
            .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run the C compiler {cc:?} ({e}): install gcc (apt-get install gcc)")
            });
        assert!(status.success(), "compiling {} failed", src.display());
        out
    })
}
