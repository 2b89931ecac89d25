//! The command line of `shmkit <subcommand>` (clap's derive): every subcommand's flags as
//! given, and their resolution into the request each subcommand's `run` takes. The
//! dispatch is in the crate root; the subcommands are in [`crate::cmd`].

use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use shmkit::Key;
use std::path::PathBuf;

/// System V IPC (shared memory, semaphore sets, message queues) from the command line.
#[derive(Debug, Parser)]
#[command(name = "shmkit", version, propagate_version = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List System V IPC objects (all kinds, or those of --shm, --sem, --msg), with whether
    /// each is stale.
    ///
    /// Stale: used once, unused now, and every process the kernel recorded as its user is
    /// gone. A segment that was attached once, has no attachments, and whose creator and
    /// last attacher are gone; a set that was operated on (semop), that nobody waits on, and
    /// whose last users are all gone; an empty queue that was sent to or received from, and
    /// whose last sender and receiver are gone. An object never used (never attached,
    /// operated on, sent to or received from) is never stale, even when its creator is
    /// gone: a script that creates objects and then starts their users does not race
    /// against rm --stale. "?" (JSON null): cannot tell.
    Ls(LsArgs),
    /// Show everything about one object, by id (a segment's unless --sem or --msg) or key.
    Stat(StatArgs),
    /// Print the System V key ftok(3) makes of a path and a project id (0 to 255), as
    /// 0x%08x.
    Ftok(FtokArgs),
    /// Create a segment, a semaphore set and/or a message queue (mode 0600 unless --mode).
    ///
    /// Prints one line per object: created KIND id ID key KEY
    /// (created shm id 32769 key 0x00000000). A key already in use for that kind is an
    /// error. If one creation fails, the objects created
    /// before it are removed again.
    Mk(MkArgs),
    /// Remove objects by id or key, or every stale object (--stale).
    ///
    /// Prints one line per object: removed KIND id ID key KEY. Failures are reported and the
    /// other objects still removed; the exit status is then 1.
    Rm(RmArgs),
    /// Copy a segment's bytes to standard output (attached read-only).
    Cat(SegmentArgs),
    /// Show a segment's bytes as hexdump -C does (attached read-only).
    Dump(SegmentArgs),
    /// Write standard input into a segment (attached read-write).
    ///
    /// Input that would reach past the end of the segment is an error, and then nothing is
    /// written.
    Write(WriteArgs),
    /// Show the kernel's limits on each facility and how much of them is in use.
    Limits(LimitsArgs),
    /// Show ls, refreshed every interval; q or Ctrl-C quits.
    ///
    /// On a terminal the screen is redrawn; otherwise each listing is printed after the
    /// previous one (with --json, one JSON document per line).
    Watch(WatchArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) of shmkit or of one subcommand.
    ///
    /// Read it with: shmkit man | man -l -
    Man(ManArgs),
    /// Walk through System V shared memory in two processes, narrating each call.
    ///
    /// The writer (this process) makes a key with ftok, creates a segment, attaches it and
    /// writes a message; a reader process (this program again) opens the segment by key,
    /// attaches it read-only and checks the message; the writer then detaches and removes
    /// the segment. Nothing is left behind, also when interrupted by SIGINT, SIGTERM or
    /// SIGHUP (the exit status is then 128 + the signal number). Exits 0 only if the
    /// message arrived intact and everything was cleaned up.
    Demo(DemoArgs),
    /// Measure one-way latency (p50, p99) and throughput of shared memory against futexes,
    /// pipes, Unix sockets and eventfds, with two processes pinned to two CPUs.
    #[command(long_about = crate::cmd::bench::LONG_ABOUT)]
    Bench(crate::cmd::bench::BenchArgs),
}

/// `--shm`, `--sem`, `--msg` as filters: the kinds given, or all when none is.
#[derive(Debug, Args)]
pub(crate) struct KindFlags {
    /// Shared-memory segments.
    #[arg(long)]
    pub(crate) shm: bool,
    /// Semaphore sets.
    #[arg(long)]
    pub(crate) sem: bool,
    /// Message queues.
    #[arg(long)]
    pub(crate) msg: bool,
}

impl KindFlags {
    /// The kinds selected.
    pub(crate) fn kinds(&self) -> crate::objects::Kinds {
        crate::objects::Kinds::from_flags(self.shm, self.sem, self.msg)
    }
}

/// `shmkit ls`.
#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Which kinds.
    #[command(flatten)]
    pub(crate) kinds: KindFlags,
    /// Print JSON: {"shm": [...], "sem": [...], "msg": [...]}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `shmkit stat`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("kind").args(["shm", "sem", "msg"])))]
pub(crate) struct StatArgs {
    /// The object's id.
    #[arg(
        value_parser = crate::objects::parse_id,
        required_unless_present = "key",
        conflicts_with = "key"
    )]
    pub(crate) id: Option<i32>,
    /// Find the object by its key (hex like 0x6e77bcfb, or decimal) instead of its id.
    #[arg(long, value_name = "KEY")]
    pub(crate) key: Option<Key>,
    /// The id is a segment's (the default), or look for the key among segments only.
    #[arg(long)]
    pub(crate) shm: bool,
    /// The id is a semaphore set's, or look for the key among sets only.
    #[arg(long)]
    pub(crate) sem: bool,
    /// The id is a message queue's, or look for the key among queues only.
    #[arg(long)]
    pub(crate) msg: bool,
    /// Print JSON: the object as ls --json shows it.
    #[arg(long)]
    pub(crate) json: bool,
}

impl StatArgs {
    /// What to show: the id (of the kind given, a segment by default) or the key.
    pub(crate) fn target(&self) -> crate::cmd::stat::Target {
        use crate::objects::Kind;
        let kind = if self.sem {
            Kind::Sem
        } else if self.msg {
            Kind::Msg
        } else {
            Kind::Shm
        };
        match (self.key, self.id) {
            (Some(key), _) => crate::cmd::stat::Target::Key(
                crate::objects::Kinds::from_flags(self.shm, self.sem, self.msg),
                key,
            ),
            (None, id) => crate::cmd::stat::Target::Id(kind, id.unwrap_or_default()),
        }
    }
}

/// `shmkit ftok PATH PROJ_ID`.
#[derive(Debug, Args)]
pub(crate) struct FtokArgs {
    /// An existing file or directory (its inode and device go into the key).
    pub(crate) path: PathBuf,
    /// The project id: a number from 0 to 255 (65, 0x41) or one character (A, as in
    /// ftok(path, 'A')). ftok(3) uses only the low 8 bits, so a larger id is refused
    /// rather than silently cut (300 would give the same key as 44).
    #[arg(value_parser = crate::cmd::ftok::parse_proj_id, allow_negative_numbers = true)]
    pub(crate) proj_id: i32,
    /// Print JSON: {"path", "proj_id", "key", "key_raw"}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `shmkit mk`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).multiple(true).args(["shm", "sem", "msg"])))]
pub(crate) struct MkArgs {
    /// Create a segment of SIZE bytes (suffixes K, M, G, T or KiB, MiB, ...: powers of
    /// 1024; KB, MB, GB, TB: powers of 1000).
    #[arg(long, value_name = "SIZE", value_parser = crate::cmd::mk::parse_size)]
    pub(crate) shm: Option<usize>,
    /// Create a set of N semaphores (each starts at 0).
    #[arg(long, value_name = "N", value_parser = crate::cmd::mk::parse_count)]
    pub(crate) sem: Option<usize>,
    /// Create a message queue.
    #[arg(long)]
    pub(crate) msg: bool,
    /// The permission bits, in octal.
    #[arg(long, default_value = "600", value_parser = crate::cmd::mk::parse_mode)]
    pub(crate) mode: u32,
    /// The key (hex like 0x6e77bcfb, or decimal); the default, 0, is IPC_PRIVATE: a new
    /// object that no key names.
    #[arg(long, default_value = "0")]
    pub(crate) key: Key,
    /// Print JSON: {"created": [{"kind", "id", "key", "key_raw"}, ...]}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `shmkit rm`.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("what")
        .required(true)
        .multiple(true)
        .args(["shm", "sem", "msg", "key", "stale"])
))]
pub(crate) struct RmArgs {
    /// Remove the segment with this id (repeatable).
    #[arg(long, value_name = "ID", value_parser = crate::objects::parse_id)]
    pub(crate) shm: Vec<i32>,
    /// Remove the semaphore set with this id (repeatable).
    #[arg(long, value_name = "ID", value_parser = crate::objects::parse_id)]
    pub(crate) sem: Vec<i32>,
    /// Remove the message queue with this id (repeatable).
    #[arg(long, value_name = "ID", value_parser = crate::objects::parse_id)]
    pub(crate) msg: Vec<i32>,
    /// Remove the object with this key (repeatable). A key that names objects of several
    /// kinds is an error, except with --stale, which takes every stale one of them.
    #[arg(long, value_name = "KEY")]
    pub(crate) key: Vec<Key>,
    /// Remove only stale objects (as ls shows them: used once, unused now, and their
    /// users gone; an object never used is never stale): every stale object, or the stale
    /// ones among those selected by id or key (the others are kept).
    #[arg(long)]
    pub(crate) stale: bool,
    /// Print what would be removed; remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print JSON: {"dry_run", "removed": [...], "kept": [...], "failed": [...]}.
    #[arg(long)]
    pub(crate) json: bool,
}

impl RmArgs {
    /// The resolved request.
    pub(crate) fn request(self) -> crate::cmd::rm::Request {
        use crate::objects::Kind;
        let ids = (self.shm.iter().map(|&id| (Kind::Shm, id)))
            .chain(self.sem.iter().map(|&id| (Kind::Sem, id)))
            .chain(self.msg.iter().map(|&id| (Kind::Msg, id)))
            .collect();
        crate::cmd::rm::Request {
            ids,
            keys: self.key,
            stale: self.stale,
            dry_run: self.dry_run,
        }
    }
}

/// `shmkit cat ID`, `shmkit dump ID`.
#[derive(Debug, Args)]
pub(crate) struct SegmentArgs {
    /// The segment's id.
    #[arg(value_parser = crate::objects::parse_id)]
    pub(crate) id: i32,
}

/// `shmkit write ID`.
#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// The segment's id.
    #[arg(value_parser = crate::objects::parse_id)]
    pub(crate) id: i32,
    /// Where in the segment to write, in bytes from its start.
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: usize,
    /// Print JSON: {"kind", "id", "key", "key_raw", "size", "offset", "written"}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `shmkit limits`.
#[derive(Debug, Args)]
pub(crate) struct LimitsArgs {
    /// Which kinds.
    #[command(flatten)]
    pub(crate) kinds: KindFlags,
    /// Print JSON: {"shm": {"limits", "usage", "page_size"}, "sem": ..., "msg": ...}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `shmkit watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Which kinds.
    #[command(flatten)]
    pub(crate) kinds: KindFlags,
    /// Seconds between refreshes (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = crate::cmd::watch::parse_interval)]
    pub(crate) interval: std::time::Duration,
    /// Stop after N refreshes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: Option<u64>,
    /// Print JSON, as ls --json (one document per line when not on a terminal).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `shmkit completions SHELL`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub(crate) shell: Shell,
}

/// `shmkit man [SUBCOMMAND]`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The subcommand whose page to print (default: the page of shmkit itself).
    pub(crate) subcommand: Option<String>,
}

/// `shmkit demo`, and the hidden flags with which the demo runs its own reader process.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Run as the demo's reader process (internal).
    #[arg(long, hide = true, requires_all = ["key", "shmid", "message", "first_step"])]
    pub(crate) reader: bool,
    /// The key the writer created the segment with (internal).
    #[arg(long, hide = true, requires = "reader")]
    pub(crate) key: Option<Key>,
    /// The id of the writer's segment, to check that the key leads to it (internal).
    #[arg(long, hide = true, requires = "reader")]
    pub(crate) shmid: Option<i32>,
    /// The message the writer wrote (internal).
    #[arg(long, hide = true, requires = "reader", allow_hyphen_values = true)]
    pub(crate) message: Option<String>,
    /// The number of the reader's first step in the narration (internal).
    #[arg(long, hide = true, requires = "reader")]
    pub(crate) first_step: Option<u32>,
}

impl DemoArgs {
    /// The resolved mode: clap's `requires` rules guarantee that the reader has every value.
    pub(crate) fn mode(self) -> crate::cmd::demo::Mode {
        match (self.key, self.shmid, self.message, self.first_step) {
            (Some(key), Some(shmid), Some(message), Some(first_step)) if self.reader => {
                crate::cmd::demo::Mode::Reader(crate::cmd::demo::ReaderArgs {
                    key,
                    shmid: shmkit::ShmId::from_raw(shmid),
                    message,
                    first_step,
                })
            }
            _ => crate::cmd::demo::Mode::Writer,
        }
    }
}

/// The command-line definition, for the generated completions and manual pages.
pub(crate) fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
