//! Nothing is left behind: the segment is marked for removal (`IPC_RMID`) as soon as the
//! parent has attached it, so the kernel destroys it when the last of the two processes
//! detaches, however they end; the worker dies with the parent (`PR_SET_PDEATHSIG`); and on
//! `SIGINT`, `SIGTERM` or `SIGHUP` a thread stops the worker and exits with 128 + the signal
//! number (as `shmkit demo` does).

use super::super::{Error, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::{self, Write};
use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What the signal thread must release: the running worker.
#[derive(Debug, Default)]
pub(crate) struct Resources {
    /// The worker, until its watchdog reaps it.
    pub(crate) child: Option<Child>,
    /// How the last worker reaped ended.
    pub(crate) last_exit: Option<std::process::ExitStatus>,
}

/// Locks the resources, also after a panic elsewhere.
pub(crate) fn lock(shared: &Mutex<Resources>) -> MutexGuard<'_, Resources> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the thread that, on `SIGINT`, `SIGTERM` or `SIGHUP`, kills the worker and exits
/// with 128 + the signal number. It keeps the lock until the process is gone, so nothing
/// new is spawned after the kill.
///
/// # Errors
/// Installing the handlers or starting the thread failed.
pub(crate) fn watch_signals(shared: Arc<Mutex<Resources>>) -> Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::io("installing signal handlers", e))?;
    std::thread::Builder::new()
        .name("bench-signals".to_owned())
        .spawn(move || {
            if let Some(signo) = signals.forever().next() {
                let mut resources = lock(&shared);
                if let Some(child) = resources.child.as_mut() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                let _ = writeln!(
                    io::stderr(),
                    "shmkit: bench: interrupted by signal {signo}; the worker is stopped and the segment goes with this process"
                );
                std::process::exit(128 + signo);
            }
        })
        .map_err(|e| Error::io("starting the signal thread", e))?;
    Ok(())
}
