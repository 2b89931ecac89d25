//! `shmkit bench`: what System V shared memory buys on this machine, measured in one run.
//!
//! Two processes, this one and a worker (this program again, with hidden flags), pinned to
//! two CPUs, ping-pong messages through each mechanism in [`mechanisms::MECHANISMS`]; each
//! round trip is timed with [`std::time::Instant`] and one way is half a round trip. Every
//! figure is measured in rounds that alternate with the bare cache-line ping-pong
//! (`spin_limit`): A B, B A, ...; the row reports medians over the rounds, and the ratio to
//! the limit is the median of the per-round ratios, so that a vCPU that moves during the
//! run moves both. Then the SPSC channel's throughput for 1 MiB messages against memcpy,
//! and the CPU an idle receiver uses in each wait mode.
//!
//! Modules: [`control`] (segment layout, command protocol), [`side`] (what each process
//! holds), [`mechanisms`] (the table), [`spin`], [`channel`], [`kernel`] (the mechanisms),
//! [`worker`] (the worker process), [`guard`] (cleanup), [`measure`] (the rounds),
//! [`stats`], [`report`].
//!
//! The JSON document: `{"results": [{"name", "size", "p50_ns", "p99_ns", "payload",
//! "iterations", "rounds", "notes", ...}]}`, with `ratio_to_limit` on latency rows,
//! `idle_cpu_percent` on the SPSC rows of 64 bytes (zero-copy), and `throughput_mb_s` and
//! `ratio_to_memcpy` on the throughput rows (`memcpy`, `spsc_throughput_copy`,
//! `spsc_throughput_zero_copy`).

mod channel;
mod control;
mod guard;
mod kernel;
mod measure;
mod mechanisms;
mod pubsub;
mod report;
mod side;
mod spin;
mod stats;
mod worker;

use super::{Error, Out, Result};
use control::{
    pubsub_to_parent, pubsub_to_worker, segment_size, to_parent, to_worker, Control, Spinner,
    PUBSUB_SLOTS, PUBSUB_SLOT_SIZE,
};
use guard::{lock, watch_signals, Resources};
use measure::{timer_overhead, Run};
use mechanisms::{MECHANISMS, SPIN_LIMIT};
use shmkit::channel::spsc;
use shmkit::{Key, Region, Segment};
use shmkit_os as os;
use side::{Session, Side};
use std::io::Write as _;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use worker::WorkerArgs;

/// The long help of `shmkit bench`.
pub(crate) const LONG_ABOUT: &str = "\
Measure one-way latency and throughput of shared memory against the kernel's other ways of \
talking between processes, on this machine, in one run.

Two processes (this one and a worker it starts, this program again) are pinned to two CPUs \
(--cpus, by default the first two this process may use; with one CPU they run unpinned and \
the output says so) and share one IPC_PRIVATE segment, which is marked for removal as soon \
as it is attached: nothing is left behind, also on Ctrl-C or an error.

Each row is one mechanism at one message size. One-way latency is half a round trip; every \
round trip is timed with two clock reads (Instant::now), the same for every mechanism, and \
that cost is included in every figure (the footnote gives it). p50_ns and p99_ns are the \
medians, over several rounds, of each round's median and 99th percentile. Every mechanism is \
measured in rounds that alternate with spin_limit (A B, B A, ...); ratio is the median of \
the per-round ratios of its p50 to spin_limit's p50 (the limit is measured at 64 bytes).

Rows: spin_limit, a bare cache-line ping-pong in the segment (one word each way): the \
hardware limit. spsc_poll, spsc_block, spsc_adaptive: the shmkit SPSC channel with receivers \
that busy-poll, block on a futex, or spin then block; zero-copy (loan, write the first and \
last cache line, commit; recv_ref, read them, release) and copy (try_send of a buffer, recv \
into a Vec), at each size of the sweep; their 64-byte zero-copy rows also give the CPU an \
idle receiver uses in that mode (idle_cpu_percent). pubsub_poll: the shmkit pub-sub channel \
(64 slots of 64 bytes) with busy-polling subscribers, 64-byte messages published each way. \
futex: a raw FUTEX_WAIT/FUTEX_WAKE \
ping-pong on two words in the segment (no payload). pipe: two pipes, and uds: a Unix \
stream socket pair, both writing and reading the whole message, at each size of the sweep. \
eventfd: two eventfds (no payload). memcpy, spsc_throughput_copy, \
spsc_throughput_zero_copy: 1 MiB messages streamed one way (copy: try_send and recv into a \
Vec; zero-copy: every byte written and read in place), time per message and MB/s \
(10^6 bytes), and the ratio of the channel's throughput to memcpy's measured in alternating \
rounds.

The figures are medians of a noisy machine: compare ratios measured in the same run, not \
figures from different runs.";

/// The sizes of the sweep when `--sizes` is not given.
const DEFAULT_SIZES: [usize; 6] = [64, 1 << 10, 16 << 10, 256 << 10, 1 << 20, 4 << 20];
/// The largest size `--sizes` accepts.
const MAX_SIZE: usize = 16 << 20;
/// The message size of the throughput rows.
const THROUGHPUT_SIZE: usize = 1 << 20;
/// The `--only` name of the throughput rows.
const THROUGHPUT: &str = "throughput";

/// `shmkit bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Round trips per measurement for messages up to 4 KiB; larger messages get
    /// N × 4096 / size, at least 20 (default: 5000; 100 on one CPU; 20 with --quick, at
    /// least 2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    iterations: Option<u64>,
    /// Rounds per figure, alternating with spin_limit (default: 5; 2 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: Option<u32>,
    /// Small counts and a short idle period: a quick check that everything works, not a
    /// measurement. The output says that its figures are indicative only (with --json, on
    /// standard error).
    #[arg(long)]
    quick: bool,
    /// Message sizes of the sweep, comma-separated (suffixes K, M or KiB, MiB: powers of
    /// 1024), at most 16 MiB; 64 bytes is always measured (default: 64,1K,16K,256K,1M,4M).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_sweep_size)]
    sizes: Vec<usize>,
    /// Measure only these (comma-separated; spin_limit, the baseline, is always measured):
    /// the mechanisms' names, and "throughput".
    #[arg(long, value_name = "NAME[,NAME]", value_delimiter = ',', value_parser = only_parser())]
    only: Vec<String>,
    /// The CPUs to pin to: A for this process, B for the worker (two different CPUs this
    /// process may use).
    #[arg(long, value_name = "A,B", value_parser = parse_cpus)]
    cpus: Option<CpuPair>,
    /// Print JSON: {"results": [{"name", "size", "p50_ns", "p99_ns", ...}]}.
    #[arg(long)]
    json: bool,
    /// Run as the worker process (internal).
    #[arg(long, hide = true, requires_all = ["shmid", "capacity", "session", "parent"])]
    worker: bool,
    /// The segment's id (internal).
    #[arg(long, hide = true, requires = "worker")]
    shmid: Option<i32>,
    /// The channels' capacity (internal).
    #[arg(long, hide = true, requires = "worker")]
    capacity: Option<usize>,
    /// The descriptors on standard input and output (internal).
    #[arg(long, hide = true, requires = "worker", value_enum)]
    session: Option<Session>,
    /// The parent's pid (internal).
    #[arg(long, hide = true, requires = "worker")]
    parent: Option<u32>,
    /// The CPU to pin to (internal).
    #[arg(long, hide = true, requires = "worker")]
    cpu: Option<usize>,
    /// Yield instead of spinning (internal).
    #[arg(long, hide = true, requires = "worker")]
    yields: bool,
}

/// Two CPUs: this process's and the worker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuPair(usize, usize);

fn only_parser() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        MECHANISMS
            .iter()
            .map(|m| m.name)
            .chain(std::iter::once(THROUGHPUT)),
    )
}

/// Parses a size of the sweep: as `shmkit mk --shm` reads sizes, at most 16 MiB.
fn parse_sweep_size(text: &str) -> Result<usize, String> {
    let size = super::mk::parse_size(text)?;
    if size > MAX_SIZE {
        return Err(format!(
            "{size} bytes is more than the 16 MiB the sweep allows"
        ));
    }
    Ok(size)
}

/// Parses `A,B`: two different CPUs this process may run on.
fn parse_cpus(text: &str) -> Result<CpuPair, String> {
    let usage = || format!("expected two CPU numbers like 0,1, not {text:?}");
    let (a, b) = text.split_once(',').ok_or_else(usage)?;
    let a: usize = a.trim().parse().map_err(|_| usage())?;
    let b: usize = b.trim().parse().map_err(|_| usage())?;
    if a == b {
        return Err(format!("the two CPUs must differ (both are {a})"));
    }
    if let Ok(allowed) = os::allowed_cpus() {
        for cpu in [a, b] {
            if !allowed.contains(&cpu) {
                return Err(format!(
                    "CPU {cpu} is not one this process may use ({})",
                    allowed
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
        }
    }
    Ok(CpuPair(a, b))
}

/// The resolved configuration.
#[derive(Debug)]
struct Config {
    iterations: u64,
    /// The fewest round trips per measurement for large messages.
    min_iterations: u64,
    rounds: usize,
    sizes: Vec<usize>,
    /// The mechanisms to measure besides spin_limit.
    mechanisms: Vec<usize>,
    throughput: bool,
    /// (this process, the worker), or unpinned.
    cpus: Option<(usize, usize)>,
    yields: bool,
    idle: Duration,
    throughput_messages: u64,
    /// `--quick`: the figures are indicative only.
    quick: bool,
    notes: Vec<String>,
}

impl Config {
    fn resolve(args: &BenchArgs) -> Result<Config> {
        let quick = args.quick;
        let mut sizes = if args.sizes.is_empty() {
            DEFAULT_SIZES.to_vec()
        } else {
            args.sizes.clone()
        };
        sizes.push(64);
        sizes.sort_unstable();
        sizes.dedup();
        let all = args.only.is_empty();
        let wanted = |name: &str| all || args.only.iter().any(|o| o == name);
        let mechanisms = (0..MECHANISMS.len())
            .filter(|&m| m != SPIN_LIMIT && wanted(MECHANISMS[m].name))
            .collect();
        let mut notes = Vec::new();
        let allowed = os::allowed_cpus()?;
        let cpus = match (args.cpus, allowed.as_slice()) {
            (Some(CpuPair(a, b)), _) => Some((a, b)),
            (None, [a, b, ..]) => Some((*a, *b)),
            (None, _) => {
                notes.push(format!(
                    "only one CPU is available ({}): the two processes run unpinned on it and busy waits yield, so the busy-polling figures measure the scheduler, not the hardware",
                    allowed.first().map_or_else(|| "?".to_owned(), usize::to_string)
                ));
                None
            }
        };
        Ok(Config {
            // One CPU: a busy-polling round trip costs a scheduler time slice or two.
            iterations: args.iterations.unwrap_or(match (quick, cpus) {
                (true, _) => 20,
                (false, None) => 100,
                (false, Some(_)) => 5000,
            }),
            min_iterations: if quick { 2 } else { 20 },
            rounds: args.rounds.unwrap_or(if quick { 2 } else { 5 }) as usize,
            sizes,
            mechanisms,
            throughput: wanted(THROUGHPUT),
            yields: cpus.is_none(),
            cpus,
            idle: Duration::from_millis(if quick { 100 } else { 1000 }),
            throughput_messages: if quick { 2 } else { 32 },
            quick,
            notes,
        })
    }

    /// Round trips per measurement at `size`.
    fn iterations_for(&self, size: usize) -> u64 {
        if size <= 4096 {
            return self.iterations;
        }
        (self.iterations.saturating_mul(4096) / size as u64)
            .max(self.iterations.min(self.min_iterations))
    }

    /// The channels' capacity: room for the largest message, and for a few 1 MiB
    /// messages in flight when throughput is measured.
    fn capacity(&self) -> usize {
        let largest = self.sizes.iter().copied().max().unwrap_or(64);
        let mut capacity = spsc::MIN_CAPACITY.max(4096);
        while spsc::max_message(capacity) < largest
            || (self.throughput && capacity < 16 * THROUGHPUT_SIZE)
        {
            capacity *= 2;
        }
        capacity
    }
}

/// Runs `shmkit bench` (or, with the hidden flags, its worker).
///
/// # Errors
/// Creating the segment, starting the worker, or any measurement failed.
pub(crate) fn run(out: &mut Out, args: &BenchArgs) -> Result<()> {
    if args.worker {
        let (Some(shmid), Some(capacity), Some(session), Some(parent)) =
            (args.shmid, args.capacity, args.session, args.parent)
        else {
            return Err(Error::Message(
                "bench worker: missing internal flags".to_owned(),
            ));
        };
        return worker::run(&WorkerArgs {
            shmid,
            capacity,
            session,
            cpu: args.cpu,
            parent,
            yields: args.yields,
        });
    }
    let config = Config::resolve(args)?;
    let shared = Arc::new(Mutex::new(Resources::default()));
    watch_signals(Arc::clone(&shared))?;
    let capacity = config.capacity();
    let (segment, map) = {
        // A signal now waits until the segment is marked for removal.
        let _held = lock(&shared);
        let segment = Segment::create(Key::PRIVATE, segment_size(capacity))?;
        let map = segment.attach();
        // IPC_RMID at once: the kernel destroys the segment when the last process
        // detaches, whatever happens to either of them. The worker attaches it by id
        // (Linux allows attaching a segment marked for removal).
        let removed = segment.remove();
        let map = map?;
        removed?;
        (segment, map)
    };
    let region: &Region = map.region();
    // Fault the pages in before anything is measured.
    region.fill(0, region.len(), 0)?;
    spsc::create_in(region, to_worker(), capacity)?;
    spsc::create_in(region, to_parent(capacity), capacity)?;
    for at in [pubsub_to_worker(capacity), pubsub_to_parent(capacity)] {
        shmkit::channel::pubsub::create_in(region, at, PUBSUB_SLOTS, PUBSUB_SLOT_SIZE)?;
    }
    if let Some((a, _)) = config.cpus {
        os::pin_to_cpu(a)?;
    }
    let spinner = Spinner {
        exited: Some(Arc::new(AtomicBool::new(false))),
        yields: config.yields,
    };
    let mut side = Side::open(
        region,
        to_worker(),
        to_parent(capacity),
        (pubsub_to_worker(capacity), pubsub_to_parent(capacity)),
        spinner.clone(),
        spsc::max_message(capacity),
    )?;
    let mut control = Control::new(region);
    let mut run = Run {
        config: &config,
        side: &mut side,
        control: &mut control,
        shared: &shared,
        segment: &segment,
        capacity,
        spin_rounds: Vec::new(),
        rows: Vec::new(),
        idle: Vec::new(),
    };
    if let Err(e) = run.all() {
        return Err(match (e, lock(&shared).last_exit) {
            (Error::Message(m), Some(status)) if !status.success() => {
                Error::Message(format!("{m}; the last worker ended with {status}"))
            }
            (e, _) => e,
        });
    }
    let rows = run.finish();
    drop(side);
    drop(map);
    if args.json {
        // Standard output stays one JSON document; the warning goes to standard error.
        if let Some(warning) = quick_warning(&config) {
            let _ = writeln!(std::io::stderr(), "shmkit: {warning}");
        }
        report::print_json(out, &rows)
    } else {
        if let Some(warning) = quick_warning(&config) {
            out.line(warning)?;
            out.line("")?;
        }
        report::print_table(out, &rows, &footnotes(&config, timer_overhead()))
    }
}

/// With `--quick`, that its figures are indicative only, and why.
fn quick_warning(config: &Config) -> Option<String> {
    config.quick.then(|| {
        format!(
            "--quick: the figures are indicative only ({} round trips in {} rounds per figure, \
             a {} ms idle period): a check that everything works, not a measurement. Run \
             without --quick for figures to compare.",
            config.iterations,
            config.rounds,
            config.idle.as_millis()
        )
    })
}

/// The footnotes under the table.
fn footnotes(config: &Config, timer_ns: f64) -> Vec<String> {
    let mut notes = vec![
        format!(
            "One way = half a round trip. Every round trip is timed with two Instant::now() reads (about {timer_ns:.0} ns here), included in every figure alike."
        ),
        match config.cpus {
            Some((a, b)) => format!("This process runs on CPU {a}, the worker on CPU {b}."),
            None => "The two processes run unpinned.".to_owned(),
        },
        format!(
            "p50_ns, p99_ns: medians over {} rounds of each round's percentiles ({} round trips per round up to 4 KiB, fewer for larger messages); rounds alternate with spin_limit (A B, B A, ...); ratio: the median of the per-round ratios of p50 to spin_limit's p50 at 64 B.",
            config.rounds, config.iterations
        ),
        "zero-copy: loan, write the first and last cache line, commit; recv_ref, read them, release. copy: try_send from a buffer, recv into a Vec; pipes and sockets write and read the whole message.".to_owned(),
        format!(
            "idle CPU: the worker's receiver waits {} ms for a message that does not come; its CPU time (getrusage) over that time.",
            config.idle.as_millis()
        ),
    ];
    notes.extend(config.notes.iter().cloned());
    notes
}

#[cfg(test)]
mod tests {
    use super::{parse_cpus, parse_sweep_size, BenchArgs, Config, CpuPair};
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn config(args: &[&str]) -> Config {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .expect("valid flags");
        Config::resolve(&cli.bench).expect("a configuration")
    }

    #[test]
    fn cpus_are_two_different_allowed_ones() {
        let allowed = shmkit_os::allowed_cpus().unwrap();
        if let [a, b, ..] = allowed[..] {
            assert_eq!(parse_cpus(&format!("{a},{b}")), Ok(CpuPair(a, b)));
            assert_eq!(parse_cpus(&format!("{b}, {a}")), Ok(CpuPair(b, a)));
        }
        assert!(parse_cpus("0,0").unwrap_err().contains("differ"));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("a,b").is_err());
        assert!(parse_cpus("0,100000")
            .unwrap_err()
            .contains("not one this process"));
    }

    #[test]
    fn sweep_sizes_take_suffixes_up_to_16_mib() {
        assert_eq!(parse_sweep_size("4K"), Ok(4096));
        assert_eq!(parse_sweep_size("16MiB"), Ok(16 << 20));
        assert!(parse_sweep_size("17M").is_err());
        assert!(parse_sweep_size("0").is_err());
    }

    #[test]
    fn configuration() {
        let c = config(&["--sizes", "1K,64K", "--only", "pipe,throughput"]);
        assert_eq!(c.sizes, [64, 1024, 65536], "64 bytes always, sorted");
        assert_eq!(c.mechanisms.len(), 1);
        assert!(c.throughput);
        // Room for the largest message, and 16 messages of 1 MiB for throughput.
        assert_eq!(c.capacity(), 16 << 20);
        let c = config(&["--quick", "--only", "spsc_poll", "--iterations", "4096"]);
        assert!(!c.throughput);
        assert_eq!(c.iterations_for(64), 4096);
        assert_eq!(
            c.iterations_for(4 << 20),
            4,
            "fewer round trips for large messages"
        );
        assert_eq!(c.rounds, 2);
        assert!(shmkit::channel::spsc::max_message(c.capacity()) >= 4 << 20);
        let c = config(&["--iterations", "3"]);
        assert_eq!(c.iterations_for(1 << 20), 3, "never more than asked for");
    }
}
