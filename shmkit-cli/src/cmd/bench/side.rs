//! What each process holds during a run: the segment's two channels, the kernel objects of
//! the current worker's session, and message buffers.

use super::super::{Error, Result};
use super::control::Spinner;
use shmkit::channel::pubsub::{Publisher, Subscriber};
use shmkit::channel::{Receiver, Sender};
use shmkit::{ReadWrite, Region};
use shmkit_os as os;
use shmkit_os::EventFd;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;

/// Which kernel objects a worker process gets. Descriptors reach the worker as its standard
/// input and output (all others are close-on-exec), so each kind of object has a worker of
/// its own; `Shm` needs none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Session {
    /// Only the segment.
    Shm,
    /// stdin: the read end of the pipe parent → worker; stdout: the write end of the pipe
    /// worker → parent.
    Pipe,
    /// stdin: the worker's end of a Unix stream socket pair.
    Uds,
    /// stdin: the eventfd the parent writes; stdout: the eventfd the worker writes.
    Eventfd,
}

/// How a message carries its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// No bytes: one word or a wake-up (`spin_limit`, `futex`, `eventfd`).
    None,
    /// Copied in and out (`try_send` from a buffer and `recv` into a `Vec`; a pipe or a
    /// socket).
    Copy,
    /// Written and read in place: loan, write the first and the last cache line (64 bytes
    /// each), commit; `recv_ref`, read them, release.
    ZeroCopy,
    /// Every byte written and read in place, no staging copy: loan, write the whole message,
    /// commit; `recv_ref`, read it all in place through a 4 KiB window, release. What
    /// zero-copy throughput measures.
    InPlace,
}

impl Payload {
    /// The name in the JSON output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Payload::None => "none",
            Payload::Copy => "copy",
            Payload::ZeroCopy => "zero_copy",
            Payload::InPlace => "in_place",
        }
    }

    /// The code in a command.
    pub(crate) fn code(self) -> u32 {
        match self {
            Payload::None => 0,
            Payload::Copy => 1,
            Payload::ZeroCopy => 2,
            Payload::InPlace => 3,
        }
    }

    /// The payload of a command's code; `None` for an unknown one.
    pub(crate) fn from_code(code: u32) -> Option<Payload> {
        [
            Payload::None,
            Payload::Copy,
            Payload::ZeroCopy,
            Payload::InPlace,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }
}

/// The kernel objects of one session, as one side holds them.
#[derive(Debug)]
pub(crate) enum Io {
    /// The `Shm` session.
    None,
    /// Read from the other side's pipe, write into ours.
    Pipe {
        /// The read end of the pipe towards this side.
        r: File,
        /// The write end of the pipe towards the other side.
        w: File,
    },
    /// One end of a socket pair, twice (two descriptors, one socket).
    Uds {
        /// The handle read from.
        r: UnixStream,
        /// The handle written to.
        w: UnixStream,
    },
    /// Two eventfds.
    EventFd {
        /// The one this side writes.
        tx: EventFd,
        /// The one this side reads.
        rx: EventFd,
    },
}

/// The worker's standard input and output for a session, and what the parent's watchdog
/// writes to unblock the parent when the worker exits (an eventfd read has no end of file).
#[derive(Debug)]
pub(crate) struct WorkerIo {
    /// The worker's standard input.
    pub(crate) stdin: Stdio,
    /// The worker's standard output.
    pub(crate) stdout: Stdio,
    /// A second handle on the eventfd the parent reads.
    pub(crate) poke: Option<EventFd>,
}

fn io_err(what: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::io(what, e)
}

impl Io {
    /// Parent: makes the session's objects; returns the parent's side and the worker's.
    ///
    /// # Errors
    /// Making a pipe, socket pair or eventfd failed (too many open files).
    pub(crate) fn make(session: Session) -> Result<(Io, WorkerIo)> {
        let none = || WorkerIo {
            stdin: Stdio::null(),
            stdout: Stdio::null(),
            poke: None,
        };
        Ok(match session {
            Session::Shm => (Io::None, none()),
            Session::Pipe => {
                let (down_r, down_w) = os::pipe()?;
                let (up_r, up_w) = os::pipe()?;
                let io = Io::Pipe {
                    r: File::from(up_r),
                    w: File::from(down_w),
                };
                let worker = WorkerIo {
                    stdin: Stdio::from(down_r),
                    stdout: Stdio::from(up_w),
                    poke: None,
                };
                (io, worker)
            }
            Session::Uds => {
                let (ours, theirs) = UnixStream::pair().map_err(io_err("socketpair"))?;
                let worker = WorkerIo {
                    stdin: Stdio::from(OwnedFd::from(theirs)),
                    ..none()
                };
                let w = ours.try_clone().map_err(io_err("dup(socket)"))?;
                (Io::Uds { r: ours, w }, worker)
            }
            Session::Eventfd => {
                let (down, up) = (EventFd::new(0)?, EventFd::new(0)?);
                let dup = |e: &EventFd| -> Result<OwnedFd> {
                    e.as_fd()
                        .try_clone_to_owned()
                        .map_err(io_err("dup(eventfd)"))
                };
                let worker = WorkerIo {
                    stdin: Stdio::from(dup(&down)?),
                    stdout: Stdio::from(dup(&up)?),
                    poke: Some(EventFd::from(dup(&up)?)),
                };
                (Io::EventFd { tx: down, rx: up }, worker)
            }
        })
    }

    /// Worker: takes the session's objects from standard input and output (duplicates;
    /// nothing is written to the real standard output).
    ///
    /// # Errors
    /// Duplicating a descriptor failed.
    pub(crate) fn inherit(session: Session) -> Result<Io> {
        let stdin = || {
            io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(io_err("dup(standard input)"))
        };
        let stdout = || {
            io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .map_err(io_err("dup(standard output)"))
        };
        Ok(match session {
            Session::Shm => Io::None,
            Session::Pipe => Io::Pipe {
                r: File::from(stdin()?),
                w: File::from(stdout()?),
            },
            Session::Uds => Io::Uds {
                r: UnixStream::from(stdin()?),
                w: UnixStream::from(stdin()?),
            },
            Session::Eventfd => Io::EventFd {
                rx: EventFd::from(stdin()?),
                tx: EventFd::from(stdout()?),
            },
        })
    }
}

/// One process's side of a run.
#[derive(Debug)]
pub(crate) struct Side<'a> {
    /// The segment.
    pub(crate) region: &'a Region,
    /// The channel towards the other process.
    pub(crate) tx: Sender<&'a Region>,
    /// The channel from the other process.
    pub(crate) rx: Receiver<&'a Region>,
    /// The current session's kernel objects.
    pub(crate) io: Io,
    /// How busy waits wait.
    pub(crate) spinner: Spinner,
    /// The bytes sent in copy mode (and through pipes and sockets).
    pub(crate) buf: Vec<u8>,
    /// Where received bytes go.
    pub(crate) back: Vec<u8>,
    /// The number of the last message this side sent (the parent counts; the worker
    /// echoes the parent's numbers).
    pub(crate) counter: u64,
    /// The pub-sub channel towards the other process (`pubsub_poll`).
    pub(crate) publisher: Publisher<&'a Region>,
    /// The pub-sub channel from the other process, subscribed for the whole run so that no
    /// message is published before the subscription.
    pub(crate) subscriber: Subscriber<&'a Region, ReadWrite>,
}

impl<'a> Side<'a> {
    /// Opens the sending end of the channel at `tx_at` and the receiving end of the one at
    /// `rx_at`, publishes to the pub-sub channel at `pub_at` and subscribes to the one at
    /// `sub_at`, with buffers for messages of up to `max` bytes.
    ///
    /// # Errors
    /// The channels' errors.
    pub(crate) fn open(
        region: &'a Region,
        tx_at: usize,
        rx_at: usize,
        (pub_at, sub_at): (usize, usize),
        spinner: Spinner,
        max: usize,
    ) -> Result<Side<'a>> {
        Ok(Side {
            region,
            tx: Sender::open_in(region, tx_at)?,
            rx: Receiver::open_in(region, rx_at)?,
            io: Io::None,
            spinner,
            buf: vec![0xa5; max],
            back: vec![0; max],
            counter: 0,
            publisher: Publisher::open_in(region, pub_at)?,
            subscriber: Subscriber::open_in(region, sub_at)?,
        })
    }
}
