//! The worker process (this program again, `shmkit bench --worker ...`, hidden flags), and
//! the parent's handle on it.
//!
//! The worker pins itself to its CPU, asks the kernel to kill it when the parent exits
//! (`PR_SET_PDEATHSIG`), attaches the segment by id, takes its session's descriptors from
//! standard input and output, says hello, and then serves commands until told to quit.
//! Its standard error goes through a pipe to a watchdog thread in the parent, which passes
//! the lines on, and at end of file reaps the worker and raises the `exited` flag that
//! every wait in the parent checks (and, for eventfds, whose reads have no end of file,
//! pokes the eventfd the parent reads).

use super::super::{Error, Result};
use super::channel;
use super::control::{
    pubsub_to_parent, pubsub_to_worker, to_parent, to_worker, wait_from, Control, Spinner,
    OP_DRAIN, OP_IDLE, OP_QUIT,
};
use super::guard::{lock, Resources};
use super::job::Job;
use super::mechanisms::MECHANISMS;
use super::side::{Io, Payload, Session, Side, WorkerIo};
use shmkit::channel::spsc;
use shmkit::{Region, Segment, ShmId};
use shmkit_os as os;
use shmkit_os::EventFd;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The most round trips or messages one command may ask for.
const MAX_COUNT: u64 = 1 << 32;
/// The longest idle period one command may ask for, in milliseconds.
const MAX_IDLE_MS: u64 = 60_000;

/// What the parent tells its worker on the command line.
#[derive(Debug, Clone)]
pub(crate) struct WorkerArgs {
    /// The segment's id.
    pub(crate) shmid: i32,
    /// The capacity of each of the two channels.
    pub(crate) capacity: usize,
    /// Which descriptors arrive on standard input and output.
    pub(crate) session: Session,
    /// The CPU to pin to (none: unpinned).
    pub(crate) cpu: Option<usize>,
    /// The parent's pid.
    pub(crate) parent: u32,
    /// Yield instead of spinning (one CPU).
    pub(crate) yields: bool,
}

fn bad(what: String) -> Error {
    Error::Message(format!(
        "bench worker: a bad command from the segment: {what}"
    ))
}

/// The worker's main.
///
/// # Errors
/// The parent is gone; attaching or opening the channels failed; a bad command; the
/// mechanisms' errors.
pub(crate) fn run(args: &WorkerArgs) -> Result<()> {
    os::kill_on_parent_death()?;
    if std::os::unix::process::parent_id() != args.parent {
        return Err(Error::Message(
            "bench worker: the parent process has exited".to_owned(),
        ));
    }
    if let Some(cpu) = args.cpu {
        os::pin_to_cpu(cpu)?;
    }
    let segment = Segment::from_id(ShmId::from_raw(args.shmid))?;
    let map = segment.attach()?;
    let region: &Region = map.region();
    prefault(region)?;
    let max = spsc::max_message(args.capacity);
    let spinner = Spinner {
        exited: None,
        yields: args.yields,
    };
    let mut side = Side::open(
        region,
        to_parent(args.capacity),
        to_worker(),
        (
            pubsub_to_parent(args.capacity),
            pubsub_to_worker(args.capacity),
        ),
        spinner,
        max,
    )?;
    side.io = Io::inherit(args.session)?;
    let mut control = Control::join(region)?;
    loop {
        let cmd = control.next()?;
        let size = usize::try_from(cmd.size)
            .ok()
            .filter(|&s| s <= max)
            .ok_or_else(|| bad(format!("size {} (at most {max})", cmd.size)));
        if cmd.count > MAX_COUNT {
            return Err(bad(format!("count {}", cmd.count)));
        }
        let payload =
            || Payload::from_code(cmd.arg).ok_or_else(|| bad(format!("payload {}", cmd.arg)));
        match cmd.op {
            OP_QUIT => {
                control.ack(cmd.seq, 0, 0)?;
                return Ok(());
            }
            OP_IDLE => {
                let wait = wait_from(cmd.arg).ok_or_else(|| bad(format!("wait {}", cmd.arg)))?;
                if cmd.size > MAX_IDLE_MS {
                    return Err(bad(format!("idle period {} ms", cmd.size)));
                }
                let (cpu, wall) = channel::idle(&mut side, wait, Duration::from_millis(cmd.size))?;
                control.ack(cmd.seq, cpu, wall)?;
            }
            OP_DRAIN => {
                let (payload, size) = (payload()?, size?);
                control.ack(cmd.seq, 0, 0)?;
                channel::drain(&mut side, payload, size, cmd.count)?;
                control.done(cmd.seq)?;
            }
            op => {
                let mechanism = MECHANISMS
                    .get(op as usize)
                    .ok_or_else(|| bad(format!("operation {op:#x}")))?;
                let job = Job {
                    size: size?,
                    count: cmd.count,
                    payload: payload()?,
                    wait: mechanism.wait,
                };
                control.ack(cmd.seq, 0, 0)?;
                (mechanism.worker)(&mut side, &job)?;
            }
        }
    }
}

/// Touches every page of the segment once, so that page faults do not land in the first
/// measurements.
pub(crate) fn prefault(region: &Region) -> Result<()> {
    let page = shmkit::info::page_size().max(64);
    for at in (0..region.len()).step_by(page) {
        region.load_u32(at & !3, Ordering::Relaxed)?;
    }
    Ok(())
}

/// The parent's handle on a running worker.
#[derive(Debug)]
pub(crate) struct Worker {
    pid: u32,
    shared: Arc<Mutex<Resources>>,
    watchdog: Option<JoinHandle<Option<ExitStatus>>>,
}

impl Worker {
    /// Starts a worker for `session` with `io` as its standard input and output, records
    /// it in `shared` (for the signal handler), starts its watchdog, and waits for its
    /// hello. `exited` is raised when it exits.
    ///
    /// # Errors
    /// Spawning failed; the worker exited before saying hello.
    pub(crate) fn spawn(
        args: &WorkerArgs,
        io: WorkerIo,
        shared: &Arc<Mutex<Resources>>,
        control: &Control<'_>,
        spinner: &Spinner,
    ) -> Result<Worker> {
        let exe = std::env::current_exe().map_err(|e| Error::io("current_exe()", e))?;
        let mut argv = vec![
            "bench".to_owned(),
            "--worker".to_owned(),
            format!("--shmid={}", args.shmid),
            format!("--capacity={}", args.capacity),
            format!(
                "--session={}",
                clap::ValueEnum::to_possible_value(&args.session)
                    .map(|v| v.get_name().to_owned())
                    .unwrap_or_default()
            ),
            format!("--parent={}", args.parent),
        ];
        if let Some(cpu) = args.cpu {
            argv.push(format!("--cpu={cpu}"));
        }
        if args.yields {
            argv.push("--yields".to_owned());
        }
        let mut command = Command::new(&exe);
        command
            .args(&argv)
            .stdin(io.stdin)
            .stdout(io.stdout)
            .stderr(Stdio::piped());
        let (pid, stderr) = {
            let mut resources = lock(shared);
            let mut child = command
                .spawn()
                .map_err(|e| Error::io(format!("spawning {}", exe.display()), e))?;
            let stderr = child.stderr.take();
            let pid = child.id();
            resources.child = Some(child);
            (pid, stderr)
        };
        let exited = spinner
            .exited
            .clone()
            .unwrap_or_else(|| Arc::new(AtomicBool::new(false)));
        exited.store(false, Ordering::Release);
        let watchdog = {
            let shared = Arc::clone(shared);
            let poke = io.poke;
            std::thread::Builder::new()
                .name("bench-watchdog".to_owned())
                .spawn(move || watch(stderr, &shared, &exited, poke.as_ref()))
                .map_err(|e| Error::io("starting the watchdog thread", e))?
        };
        let worker = Worker {
            pid,
            shared: Arc::clone(shared),
            watchdog: Some(watchdog),
        };
        control.await_hello(pid, spinner)?;
        Ok(worker)
    }

    /// Tells the worker to quit and checks that it exited with status 0.
    ///
    /// # Errors
    /// It exited first, or with another status.
    pub(crate) fn finish(mut self, control: &mut Control<'_>, spinner: &Spinner) -> Result<()> {
        let seq = control.post(OP_QUIT, 0, 0, 0)?;
        control.await_ack(seq, spinner)?;
        let status = self.watchdog.take().and_then(|w| w.join().ok().flatten());
        match status {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(Error::Message(format!(
                "bench: the worker (pid {}) exited with {s}",
                self.pid
            ))),
            None => Err(Error::Message(format!(
                "bench: the worker (pid {}) could not be waited for",
                self.pid
            ))),
        }
    }
}

impl Drop for Worker {
    /// On the error paths: stops the worker and waits for its watchdog.
    fn drop(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            if let Some(child) = lock(&self.shared).child.as_mut() {
                // The watchdog reaps it (its standard error reaches end of file).
                let _ = child.kill();
            }
            let _ = watchdog.join();
        }
    }
}

/// The watchdog: passes the worker's standard error on, then reaps it, raises `exited`
/// and pokes the parent's eventfd.
fn watch(
    stderr: Option<std::process::ChildStderr>,
    shared: &Mutex<Resources>,
    exited: &AtomicBool,
    poke: Option<&EventFd>,
) -> Option<ExitStatus> {
    if let Some(stderr) = stderr {
        for line in BufReader::new(stderr).split(b'\n') {
            let Ok(line) = line else { break };
            let _ = writeln!(io::stderr(), "{}", String::from_utf8_lossy(&line));
        }
    }
    let status = {
        let mut resources = lock(shared);
        let status = resources.child.take().and_then(|mut c| c.wait().ok());
        resources.last_exit = status;
        status
    };
    exited.store(true, Ordering::Release);
    if let Some(poke) = poke {
        // Any value but 1 tells the parent's read that the worker is gone.
        let _ = poke.write(1 << 32);
    }
    status
}
