//! `shmkit demo`: the System V shared-memory model, end to end, in two real processes.
//!
//! The demo process is the writer: it makes a fresh directory, turns it into a key with
//! `ftok`, creates a segment exclusively, attaches it, writes a length-prefixed message and
//! runs this same binary again as the reader (`demo --reader ...`, hidden flags). The
//! reader opens the segment by key, attaches it read-only, reads and checks the message
//! and detaches. The writer then detaches, removes the segment, checks that the system no
//! longer lists it and removes the directory. Every step is narrated with the call it
//! makes, and the segment's `ipcs`-style row is printed as it changes.
//!
//! Nothing is left behind, whatever happens: what exists (directory, segment, reader
//! process) is recorded in one shared [`Resources`] value; a guard releases it on every
//! error path, and a thread watching `SIGINT`, `SIGTERM` and `SIGHUP` releases it and exits
//! with 128 + the signal number.
//!
//! The message layout: a `u32` little-endian length at offset 0, the bytes at offset 4.
//! The reader treats the length as untrusted input: it reads it once and checks it against
//! the segment before using it.

use super::{Error, Out, Result};
use crate::format::{segment_row, SEGMENT_HEADER};
use shmkit::{ErrorKind, Key, Segment, SegmentStat, ShmId};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// The project id the demo passes to `ftok`.
const PROJ_ID: u8 = b'S';
/// The segment's size in bytes.
const SIZE: usize = 4096;
/// The segment's permission bits: read-write for the owner only.
const MODE: u32 = 0o600;
/// The size of the length prefix in front of the message.
const LEN_PREFIX: usize = 4;
/// How many numbered steps the reader narrates, so that the writer's numbering continues
/// after them.
const READER_STEPS: u32 = 6;
/// With this set to `1`, the writer stops after creating and attaching the segment, prints
/// `waiting for signal` and waits for a signal (or the end of standard input, after which it
/// carries on). Tests use it to interrupt the demo at a known point without sleeping.
const PAUSE_VAR: &str = "SHMKIT_DEMO_PAUSE_AFTER_CREATE";
/// The signals that interrupt the demo (and make it clean up).
const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Which side of the demo this process plays.
#[derive(Debug)]
pub(crate) enum Mode {
    /// The process the user started: creates, writes, spawns the reader, cleans up.
    Writer,
    /// The process the writer spawned.
    Reader(ReaderArgs),
}

/// What the writer tells its reader on the command line.
#[derive(Debug)]
pub(crate) struct ReaderArgs {
    /// The key to open the segment by.
    pub(crate) key: Key,
    /// The id the writer got: the key must lead to this segment and no other.
    pub(crate) shmid: ShmId,
    /// The message the segment should hold.
    pub(crate) message: String,
    /// The number of the reader's first step in the narration.
    pub(crate) first_step: u32,
}

/// Runs the demo as the writer or as the reader.
///
/// # Errors
/// The first failing step (after cleaning up, for the writer); a message that did not
/// arrive intact; a failed cleanup.
pub(crate) fn run(out: &mut Out, mode: Mode) -> Result<()> {
    match mode {
        Mode::Writer => writer(out),
        Mode::Reader(args) => reader(out, &args),
    }
}

/// Numbered narration lines, prefixed with the process's role.
struct Narrator<'a> {
    out: &'a mut Out,
    who: &'static str,
    next: u32,
}

impl<'a> Narrator<'a> {
    fn new(out: &'a mut Out, who: &'static str, first: u32) -> Self {
        Narrator {
            out,
            who,
            next: first,
        }
    }

    /// Prints the next numbered step.
    fn step(&mut self, text: impl fmt::Display) -> Result<()> {
        let n = self.next;
        self.next += 1;
        self.out.line(format_args!("[{}] {n}. {text}", self.who))
    }

    /// Prints an unnumbered line under the current step.
    fn note(&mut self, text: impl fmt::Display) -> Result<()> {
        self.out.line(format_args!("[{}]    {text}", self.who))
    }

    /// Prints the segment's row under the table header.
    fn table(&mut self, stat: &SegmentStat) -> Result<()> {
        self.note(SEGMENT_HEADER)?;
        self.note(segment_row(stat))
    }
}

/// What the writer has made and must not leave behind. Each field is set, under the lock,
/// in the same critical section that creates the thing, and cleared when it is released,
/// so that whoever takes the lock (the main thread, the error-path guard, the signal
/// thread) sees exactly what exists.
#[derive(Debug, Default)]
struct Resources {
    /// The temporary directory the key is made of.
    dir: Option<PathBuf>,
    /// The segment, until it is removed.
    segment: Option<Segment>,
    /// The reader process, until it is waited for.
    reader: Option<Child>,
}

/// What [`Resources::release`] did, and what it could not do.
#[derive(Debug, Default)]
struct Released {
    done: Vec<String>,
    failed: Vec<String>,
}

impl Resources {
    /// Releases whatever still exists: kills and waits for the reader, removes the segment
    /// (while still attached, it becomes `dest` and the kernel frees it at the last
    /// detach, at the latest when this process exits), removes the directory.
    fn release(&mut self) -> Released {
        let mut released = Released::default();
        if let Some(mut child) = self.reader.take() {
            let pid = child.id();
            // A reader that has already exited is a zombie until waited for: the kill is
            // harmless then, and the wait reaps it.
            let killed = child.kill();
            match (killed, child.wait()) {
                (_, Ok(status)) => released
                    .done
                    .push(format!("stopped the reader (pid {pid}, {status})")),
                (Err(e), Err(_)) | (Ok(()), Err(e)) => released
                    .failed
                    .push(format!("stopping the reader (pid {pid}): {e}")),
            }
        }
        if let Some(segment) = self.segment.take() {
            let id = segment.id();
            match segment.remove() {
                Ok(()) => released
                    .done
                    .push(format!("removed segment {id} (shmctl IPC_RMID)")),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::Removed) => {
                    released.done.push(format!("segment {id} was already gone"))
                }
                Err(e) => released.failed.push(e.to_string()),
            }
        }
        if let Some(dir) = self.dir.take() {
            match fs::remove_dir(&dir) {
                Ok(()) => released.done.push(format!("removed {}", dir.display())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => released
                    .done
                    .push(format!("{} was already gone", dir.display())),
                Err(e) => released
                    .failed
                    .push(format!("remove_dir({}): {e}", dir.display())),
            }
        }
        released
    }
}

/// Locks the resources, also after a panic elsewhere: cleaning up matters more then.
fn lock(shared: &Mutex<Resources>) -> MutexGuard<'_, Resources> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Releases what the writer still holds when dropped: the error paths' cleanup. On the
/// happy path everything is already released and this does nothing.
struct CleanupGuard {
    shared: Arc<Mutex<Resources>>,
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        let released = lock(&self.shared).release();
        report("cleaning up", &released);
    }
}

/// Prints what a release did (stdout) and what failed (stderr). Errors writing are
/// ignored: this runs on the way out, and the release itself has happened.
fn report(why: &str, released: &Released) {
    if !released.done.is_empty() {
        let _ = writeln!(io::stdout(), "[writer] {why}: {}", released.done.join(", "));
    }
    for failure in &released.failed {
        let _ = writeln!(io::stderr(), "shmkit: demo: {why}: {failure}");
    }
}

/// The name of one of [`SIGNALS`].
fn signal_name(signo: i32) -> String {
    match signo {
        SIGINT => "SIGINT".to_owned(),
        SIGTERM => "SIGTERM".to_owned(),
        SIGHUP => "SIGHUP".to_owned(),
        other => format!("signal {other}"),
    }
}

/// Starts the thread that, on `SIGINT`, `SIGTERM` or `SIGHUP`, releases the resources and
/// exits with 128 + the signal number. It holds the lock until the process is gone, so
/// the main thread cannot create anything after the release.
fn watch_signals(shared: Arc<Mutex<Resources>>) -> Result<()> {
    let mut signals =
        Signals::new(SIGNALS).map_err(|e| Error::io("installing signal handlers", e))?;
    std::thread::Builder::new()
        .name("demo-signals".to_owned())
        .spawn(move || {
            if let Some(signo) = signals.forever().next() {
                let mut resources = lock(&shared);
                let released = resources.release();
                let status = 128 + signo;
                report(&format!("caught {}", signal_name(signo)), &released);
                let _ = writeln!(io::stdout(), "[writer] exiting with status {status}");
                std::process::exit(status);
            }
        })
        .map_err(|e| Error::io("starting the signal thread", e))?;
    Ok(())
}

/// The writer: sets up the cleanup, then runs the steps.
fn writer(out: &mut Out) -> Result<()> {
    let shared = Arc::new(Mutex::new(Resources::default()));
    watch_signals(Arc::clone(&shared))?;
    let guard = CleanupGuard {
        shared: Arc::clone(&shared),
    };
    let outcome = writer_steps(&mut Narrator::new(out, "writer", 1), &shared);
    // The steps' attachment is detached by now (it was theirs); release what is left.
    drop(guard);
    outcome
}

/// The writer's steps. Whatever it creates is recorded in `shared` as it is created.
fn writer_steps(say: &mut Narrator<'_>, shared: &Mutex<Resources>) -> Result<()> {
    let pid = std::process::id();

    // A fresh directory: its inode (and device) are what ftok makes the key of.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("shmkit-demo-{pid}-{nanos}"));
    {
        let mut resources = lock(shared);
        fs::create_dir(&dir).map_err(|e| Error::io(format!("create_dir({})", dir.display()), e))?;
        resources.dir = Some(dir.clone());
    }
    say.step(format_args!(
        "create_dir({}): a fresh directory, for ftok to make a key of",
        dir.display()
    ))?;

    let key = Key::ftok(&dir, i32::from(PROJ_ID))?;
    say.step(format_args!(
        "ftok({}, '{}') = {key}: proj_id << 24 | (st_dev & 0xff) << 16 | (st_ino & 0xffff)",
        dir.display(),
        char::from(PROJ_ID)
    ))?;

    let created = {
        let mut resources = lock(shared);
        let created = Segment::builder(key).size(SIZE).mode(MODE).create();
        if let Ok(segment) = &created {
            resources.segment = Some(segment.clone());
        }
        created
    };
    let segment = match created {
        Ok(segment) => segment,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            say.step(format_args!(
                "shmget({key}, {SIZE}, IPC_CREAT | IPC_EXCL | {MODE:04o}): the key is taken"
            ))?;
            say.note(
                "another path's ftok gave the same key (ftok keeps only 16 bits of the inode)",
            )?;
            say.note("that segment is someone else's: leaving it alone")?;
            return Err(Error::Message(format!(
                "demo: key {key} is already in use (an ftok collision); \
                 not touching someone else's segment; run the demo again for another key"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let id = segment.id();
    say.step(format_args!(
        "shmget({key}, {SIZE}, IPC_CREAT | IPC_EXCL | {MODE:04o}) = shmid {id}: \
         a new segment (exclusive creation never opens someone else's)"
    ))?;
    say.table(&segment.stat()?)?;

    let map = segment.attach()?;
    let addr = map.address();
    say.step(format_args!(
        "shmat({id}, NULL, 0) = {addr:#x}: attached read-write"
    ))?;
    say.table(&segment.stat()?)?;

    if std::env::var_os(PAUSE_VAR).is_some_and(|v| v == "1") {
        say.note(format_args!(
            "waiting for signal ({PAUSE_VAR}=1; end of standard input carries on)"
        ))?;
        io::copy(&mut io::stdin().lock(), &mut io::sink())
            .map_err(|e| Error::io("reading standard input", e))?;
    }

    let message = format!("hello from pid {pid} via System V shared memory");
    let room = map.len() - LEN_PREFIX;
    let len = u32::try_from(message.len())
        .ok()
        .filter(|_| message.len() <= room)
        .ok_or_else(|| Error::Message(format!("demo: the message does not fit in {room} bytes")))?;
    // The bytes first, the length last: a reader that trusts the length finds them there.
    map.write_at(LEN_PREFIX, message.as_bytes())?;
    map.write_at(0, &len.to_le_bytes())?;
    say.step(format_args!(
        "write_at({LEN_PREFIX}, {len} bytes), then write_at(0, {len} as u32 little-endian): {message:?}"
    ))?;

    // The reader: this same program, with the hidden reader flags.
    let exe = std::env::current_exe().map_err(|e| Error::io("current_exe()", e))?;
    let spawn_step = say.next;
    let reader_args = [
        "demo".to_owned(),
        "--reader".to_owned(),
        "--key".to_owned(),
        key.to_string(),
        "--shmid".to_owned(),
        id.to_string(),
        "--message".to_owned(),
        message.clone(),
        "--first-step".to_owned(),
        (spawn_step + 1).to_string(),
    ];
    let mut command = Command::new(&exe);
    command
        .args(&reader_args)
        .env_remove(PAUSE_VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let spawned = {
        let mut resources = lock(shared);
        command.spawn().map(|mut child| {
            let stdout = child.stdout.take();
            let child_pid = child.id();
            resources.reader = Some(child);
            (child_pid, stdout)
        })
    };
    let (reader_pid, reader_out) =
        spawned.map_err(|e| Error::io(format!("spawning {}", exe.display()), e))?;
    say.step(format_args!(
        "spawn {} {} (pid {reader_pid}) and wait for it",
        exe.display(),
        reader_args
            .iter()
            .map(|a| if a.contains(' ') {
                format!("{a:?}")
            } else {
                a.clone()
            })
            .collect::<Vec<_>>()
            .join(" ")
    ))?;

    // Pass the reader's lines on (not holding the lock: a signal can stop the reader).
    let reader_out = reader_out
        .ok_or_else(|| Error::Message("demo: the reader's output is not a pipe".to_owned()))?;
    let mut lines = BufReader::new(reader_out);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = lines
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("reading the reader's output", e))?;
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        say.out.line(text.trim_end_matches('\n'))?;
    }
    // Its output is closed: it is exiting. Take it out of the shared state and reap it.
    let child = lock(shared).reader.take();
    let status = match child {
        Some(mut child) => child
            .wait()
            .map_err(|e| Error::io(format!("waiting for the reader (pid {reader_pid})"), e))?,
        None => return Err(Error::Message("demo: the reader disappeared".to_owned())),
    };
    say.next = spawn_step + 1 + READER_STEPS;
    let intact = status.success();
    say.step(format_args!(
        "waitpid({reader_pid}) = {status}: the message {}",
        if intact {
            "arrived intact"
        } else {
            "did NOT arrive intact"
        }
    ))?;
    say.table(&segment.stat()?)?;

    map.detach()?;
    say.step(format_args!("shmdt({addr:#x}): detached"))?;
    say.table(&segment.stat()?)?;

    {
        let mut resources = lock(shared);
        if let Some(segment) = &resources.segment {
            segment.remove()?;
        }
        resources.segment = None;
    }
    say.step(format_args!(
        "shmctl({id}, IPC_RMID): removed; with no attachment left, the kernel destroys it now"
    ))?;
    match segment.stat() {
        Ok(stat) => say.table(&stat)?,
        Err(e) => say.note(format_args!("IPC_STAT now fails, as it should: {e}"))?,
    }

    let still_listed = shmkit::info::segments()?.iter().any(|s| s.id == id);
    say.step(format_args!(
        "shmkit::info::segments() (the system's list): shmid {id} {}",
        if still_listed {
            "is STILL listed"
        } else {
            "is no longer listed"
        }
    ))?;

    {
        let mut resources = lock(shared);
        fs::remove_dir(&dir).map_err(|e| Error::io(format!("remove_dir({})", dir.display()), e))?;
        resources.dir = None;
    }
    say.step(format_args!("remove_dir({}): removed", dir.display()))?;

    match (intact, still_listed) {
        (true, false) => {
            say.note("done: the message arrived intact; no segment and no directory left behind")
        }
        (false, _) => Err(Error::Message(format!(
            "demo: the message did not arrive intact (the reader's {status})"
        ))),
        (true, true) => Err(Error::Message(format!(
            "demo: segment {id} is still listed after its removal"
        ))),
    }
}

/// The reader: opens the writer's segment by key, reads and checks the message.
fn reader(out: &mut Out, args: &ReaderArgs) -> Result<()> {
    let mut say = Narrator::new(out, "reader", args.first_step);
    let key = args.key;

    let segment = Segment::open(key)?;
    let id = segment.id();
    say.step(format_args!(
        "shmget({key}, 0, 0) = shmid {id}: opened the existing segment by its key"
    ))?;
    if id != args.shmid {
        return Err(Error::Message(format!(
            "demo reader: key {key} leads to shmid {id}, not to the writer's {}",
            args.shmid
        )));
    }

    let map = segment.attach_read_only()?;
    let addr = map.address();
    say.step(format_args!(
        "shmat({id}, NULL, SHM_RDONLY) = {addr:#x}: attached read-only"
    ))?;

    // The length is another process's word: read it once, check it, then use it.
    let mut prefix = [0u8; LEN_PREFIX];
    map.read_at(0, &mut prefix)?;
    let claimed = u32::from_le_bytes(prefix);
    let room = map.len().saturating_sub(LEN_PREFIX);
    let len = usize::try_from(claimed)
        .ok()
        .filter(|&n| n <= room)
        .ok_or_else(|| {
            Error::Message(format!(
                "demo reader: the segment claims a {claimed}-byte message, \
                 but only {room} bytes follow the length: not trusting it"
            ))
        })?;
    let received = map.read_vec(LEN_PREFIX, len)?;
    say.step(format_args!(
        "read_at(0, 4 bytes) = length {len} (checked: at most {room}), then read_at({LEN_PREFIX}, {len} bytes)"
    ))?;

    let intact = received == args.message.as_bytes();
    let received_text = String::from_utf8_lossy(&received);
    if intact {
        say.step(format_args!("message intact: {received_text:?}"))?;
    } else {
        say.step(format_args!(
            "message NOT intact: expected {:?}, got {received_text:?}",
            args.message
        ))?;
    }

    say.step(format_args!(
        "shmctl({id}, IPC_STAT) from this process (pid {}): both processes attached",
        std::process::id()
    ))?;
    say.table(&segment.stat()?)?;

    map.detach()?;
    say.step(format_args!(
        "shmdt({addr:#x}): detached; exiting with {}",
        if intact { 0 } else { 1 }
    ))?;

    if intact {
        Ok(())
    } else {
        Err(Error::Message(
            "demo reader: the message did not arrive intact".to_owned(),
        ))
    }
}
