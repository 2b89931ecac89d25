//! Helpers shared by the integration tests: unique keys, temporary directories, typed
//! probes that re-run the test binary as another process (optionally as `nobody`; see
//! [`probe`]), and the C peer.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod ipc_probe;
pub mod probe;

#[allow(unused_imports)]
pub use ipc_probe::IpcProbe;
#[allow(unused_imports)]
pub use probe::{run_probe, spawn_probe, ProbeOptions, ProbeResult, RunningProbe};

use shmkit::{ErrorKind, Key, RemoveOnDrop, Segment};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
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
