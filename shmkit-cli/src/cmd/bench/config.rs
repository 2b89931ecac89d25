//! What `shmkit bench` is asked to do: its flags ([`BenchArgs`], as given) and the
//! configuration they resolve to ([`Config`], with the defaults filled in and the CPUs
//! chosen).

use super::super::Result;
use super::mechanisms::{MECHANISMS, SPIN_LIMIT};
use super::side::Session;
use shmkit::channel::spsc;
use shmkit_os as os;
use std::time::Duration;

/// The sizes of the sweep when `--sizes` is not given.
const DEFAULT_SIZES: [usize; 6] = [64, 1 << 10, 16 << 10, 256 << 10, 1 << 20, 4 << 20];
/// The largest size `--sizes` accepts.
const MAX_SIZE: usize = 16 << 20;
/// The message size of the throughput rows.
pub(crate) const THROUGHPUT_SIZE: usize = 1 << 20;
/// The `--only` name of the throughput rows.
const THROUGHPUT: &str = "throughput";

/// `shmkit bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Round trips per measurement for messages up to 4 KiB; larger messages get
    /// N × 4096 / size, at least 20 (default: 5000; 100 on one CPU; 20 with --quick, at
    /// least 2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub(crate) iterations: Option<u64>,
    /// Rounds per figure, alternating with spin_limit (default: 5; 2 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) rounds: Option<u32>,
    /// Small counts and a short idle period: a quick check that everything works, not a
    /// measurement. The output says that its figures are indicative only (with --json, on
    /// standard error).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Message sizes of the sweep, comma-separated (suffixes K, M or KiB, MiB: powers of
    /// 1024), at most 16 MiB; 64 bytes is always measured (default: 64,1K,16K,256K,1M,4M).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_sweep_size)]
    pub(crate) sizes: Vec<usize>,
    /// Measure only these (comma-separated; spin_limit, the baseline, is always measured):
    /// the mechanisms' names, and "throughput".
    #[arg(long, value_name = "NAME[,NAME]", value_delimiter = ',', value_parser = only_parser())]
    pub(crate) only: Vec<String>,
    /// The CPUs to pin to: A for this process, B for the worker (two different CPUs this
    /// process may use).
    #[arg(long, value_name = "A,B", value_parser = parse_cpus)]
    pub(crate) cpus: Option<CpuPair>,
    /// Print JSON: {"results": [{"name", "size", "p50_ns", "p99_ns", ...}]}.
    #[arg(long)]
    pub(crate) json: bool,
    /// Run as the worker process (internal).
    #[arg(long, hide = true, requires_all = ["shmid", "capacity", "session", "parent"])]
    pub(crate) worker: bool,
    /// The segment's id (internal).
    #[arg(long, hide = true, requires = "worker")]
    pub(crate) shmid: Option<i32>,
    /// The channels' capacity (internal).
    #[arg(long, hide = true, requires = "worker")]
    pub(crate) capacity: Option<usize>,
    /// The descriptors on standard input and output (internal).
    #[arg(long, hide = true, requires = "worker", value_enum)]
    pub(crate) session: Option<Session>,
    /// The parent's pid (internal).
    #[arg(long, hide = true, requires = "worker")]
    pub(crate) parent: Option<u32>,
    /// The CPU to pin to (internal).
    #[arg(long, hide = true, requires = "worker")]
    pub(crate) cpu: Option<usize>,
    /// Yield instead of spinning (internal).
    #[arg(long, hide = true, requires = "worker")]
    pub(crate) yields: bool,
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
    let size = super::super::mk::parse_size(text)?;
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
pub(crate) struct Config {
    pub(crate) iterations: u64,
    /// The fewest round trips per measurement for large messages.
    pub(crate) min_iterations: u64,
    pub(crate) rounds: usize,
    pub(crate) sizes: Vec<usize>,
    /// The mechanisms to measure besides spin_limit.
    pub(crate) mechanisms: Vec<usize>,
    pub(crate) throughput: bool,
    /// (this process, the worker), or unpinned.
    pub(crate) cpus: Option<(usize, usize)>,
    pub(crate) yields: bool,
    pub(crate) idle: Duration,
    pub(crate) throughput_messages: u64,
    /// `--quick`: the figures are indicative only.
    pub(crate) quick: bool,
    pub(crate) notes: Vec<String>,
}

impl Config {
    pub(crate) fn resolve(args: &BenchArgs) -> Result<Config> {
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
    pub(crate) fn iterations_for(&self, size: usize) -> u64 {
        if size <= 4096 {
            return self.iterations;
        }
        (self.iterations.saturating_mul(4096) / size as u64)
            .max(self.iterations.min(self.min_iterations))
    }

    /// The channels' capacity: room for the largest message, and for a few 1 MiB
    /// messages in flight when throughput is measured.
    pub(crate) fn capacity(&self) -> usize {
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
