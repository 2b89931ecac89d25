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
//! Modules: [`config`] (the flags and what they resolve to), [`control`] (segment layout,
//! command protocol), [`side`] (what each process holds), [`mechanisms`] (the table, a
//! registry only), [`job`] (what every mechanism shares), [`spin`], [`channel`], [`pubsub`],
//! [`kernel`] (the mechanisms), [`worker`] (the worker process), [`guard`] (cleanup),
//! [`measure`] (the rounds), [`stats`], [`report`].
//!
//! The JSON document: `{"results": [{"name", "size", "p50_ns", "p99_ns", "payload",
//! "iterations", "rounds", "notes", ...}]}`, with `ratio_to_limit` on latency rows,
//! `idle_cpu_percent` on the SPSC rows of 64 bytes (zero-copy), and `throughput_mb_s` and
//! `ratio_to_memcpy` on the throughput rows (`memcpy`, `spsc_throughput_copy`,
//! `spsc_throughput_zero_copy`).

mod channel;
mod config;
mod control;
mod guard;
mod job;
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
pub(crate) use config::BenchArgs;
use config::Config;
use control::{
    pubsub_to_parent, pubsub_to_worker, segment_size, to_parent, to_worker, Control, Spinner,
    PUBSUB_SLOTS, PUBSUB_SLOT_SIZE,
};
use guard::{lock, watch_signals, Resources};
use measure::{timer_overhead, Run};
use shmkit::channel::spsc;
use shmkit::{Key, Region, Segment};
use shmkit_os as os;
use side::Side;
use std::io::Write as _;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
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
