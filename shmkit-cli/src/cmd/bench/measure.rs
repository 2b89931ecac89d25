//! The measurements of a run: every session with its worker, every figure in rounds that
//! alternate with `spin_limit`, the idle CPU and the throughput, and the rows they make.

use super::super::Result;
use super::channel;
use super::config::{Config, THROUGHPUT_SIZE};
use super::control::{wait_code, Control, OP_IDLE};
use super::guard::Resources;
use super::job::Job;
use super::mechanisms::{MECHANISMS, SPIN_LIMIT};
use super::report::Row;
use super::side::{Io, Payload, Session, Side};
use super::stats;
use super::worker::{Worker, WorkerArgs};
use shmkit::Segment;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What two clock reads cost: the timing overhead every round trip carries.
pub(crate) fn timer_overhead() -> f64 {
    const N: u32 = 100_000;
    let start = Instant::now();
    for _ in 0..N {
        std::hint::black_box(Instant::now().elapsed());
    }
    start.elapsed().as_nanos() as f64 / f64::from(N)
}

/// One figure's rounds: each round's (p50, p99) one way, and the ratio of its p50 to the
/// paired spin_limit round's.
#[derive(Debug, Default)]
struct Rounds {
    p50: Vec<f64>,
    p99: Vec<f64>,
    ratios: Vec<f64>,
}

/// One round's one-way (p50, p99) from round-trip samples.
fn one_way(samples: &mut [u64]) -> (f64, f64) {
    let mut p = |q| stats::percentile(samples, q).unwrap_or(0) as f64 / 2.0;
    (p(50.0), p(99.0))
}

/// The state of a run.
pub(crate) struct Run<'r, 'a> {
    pub(crate) config: &'r Config,
    pub(crate) side: &'r mut Side<'a>,
    pub(crate) control: &'r mut Control<'a>,
    pub(crate) shared: &'r Arc<Mutex<Resources>>,
    pub(crate) segment: &'r Segment,
    pub(crate) capacity: usize,
    /// Every spin_limit round: (p50, p99).
    pub(crate) spin_rounds: Vec<(f64, f64)>,
    pub(crate) rows: Vec<Row>,
    /// Idle CPU per SPSC mechanism.
    pub(crate) idle: Vec<(usize, f64)>,
}

impl Run<'_, '_> {
    /// Every session in turn, each with a worker of its own.
    pub(crate) fn all(&mut self) -> Result<()> {
        for session in [Session::Shm, Session::Pipe, Session::Uds, Session::Eventfd] {
            let mechanisms: Vec<usize> = (self.config.mechanisms.iter().copied())
                .filter(|&m| MECHANISMS[m].session == session)
                .collect();
            let extra = session == Session::Shm
                && (self.config.throughput || self.config.mechanisms.is_empty());
            if mechanisms.is_empty() && !extra {
                continue;
            }
            self.session(session, &mechanisms)?;
        }
        Ok(())
    }

    fn session(&mut self, session: Session, mechanisms: &[usize]) -> Result<()> {
        let (io, worker_io) = Io::make(session)?;
        self.side.io = io;
        let worker = Worker::spawn(
            &WorkerArgs {
                shmid: self.segment.id().raw(),
                capacity: self.capacity,
                session,
                cpu: self.config.cpus.map(|(_, b)| b),
                parent: std::process::id(),
                yields: self.config.yields,
            },
            worker_io,
            self.shared,
            self.control,
            &self.side.spinner,
        )?;
        for &m in mechanisms {
            self.latency(m)?;
        }
        if self.spin_rounds.is_empty() {
            // Only spin_limit (or only throughput) was asked for: the limit still gets
            // its rounds.
            for _ in 0..self.config.rounds {
                self.spin_round()?;
            }
        }
        if session == Session::Shm {
            for &m in mechanisms {
                if MECHANISMS[m].name.starts_with("spsc_") {
                    let percent = self.idle_cpu(m)?;
                    self.idle.push((m, percent));
                }
            }
            if self.config.throughput {
                self.throughput()?;
            }
        }
        let spinner = self.side.spinner.clone();
        worker.finish(self.control, &spinner)?;
        self.side.io = Io::None;
        Ok(())
    }

    /// One measurement: `count` round trips of mechanism `m`; the round-trip samples.
    fn measure(&mut self, m: usize, payload: Payload, size: usize, count: u64) -> Result<Vec<u64>> {
        let mechanism = &MECHANISMS[m];
        let job = Job {
            size,
            count,
            payload,
            wait: mechanism.wait,
        };
        let seq = self
            .control
            .post(m as u32, payload.code(), size as u64, count)?;
        self.control.await_ack(seq, &self.side.spinner)?;
        let mut samples = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        (mechanism.parent)(self.side, &job, &mut samples)?;
        Ok(samples)
    }

    /// A spin_limit round: its one-way (p50, p99), also recorded for the spin_limit row.
    fn spin_round(&mut self) -> Result<(f64, f64)> {
        let mut samples = self.measure(SPIN_LIMIT, Payload::None, 64, self.config.iterations)?;
        let figures = one_way(&mut samples);
        self.spin_rounds.push(figures);
        Ok(figures)
    }

    /// Every row of mechanism `m`: each payload at each size, in rounds alternating with
    /// spin_limit.
    fn latency(&mut self, m: usize) -> Result<()> {
        let mechanism = &MECHANISMS[m];
        let sizes = if mechanism.sweep {
            self.config.sizes.clone()
        } else {
            vec![64]
        };
        for &payload in mechanism.payloads {
            for &size in &sizes {
                let count = self.config.iterations_for(size);
                // Warm-up, not recorded: the first laps through the ring, the first
                // wake-ups.
                self.measure(m, payload, size, (count / 10).clamp(1, 100))?;
                let mut rounds = Rounds::default();
                for round in 0..self.config.rounds {
                    let (spin, mut samples) = if round % 2 == 0 {
                        let spin = self.spin_round()?;
                        (spin, self.measure(m, payload, size, count)?)
                    } else {
                        let samples = self.measure(m, payload, size, count)?;
                        (self.spin_round()?, samples)
                    };
                    let (p50, p99) = one_way(&mut samples);
                    rounds.p50.push(p50);
                    rounds.p99.push(p99);
                    rounds.ratios.push(p50 / spin.0.max(f64::MIN_POSITIVE));
                }
                let mut notes = Vec::new();
                if payload != Payload::None && mechanism.name.starts_with("spsc_") {
                    notes.push(payload.name().replace('_', "-"));
                }
                if size == 64 && (payload == mechanism.payloads[0]) {
                    notes.push(mechanism.note.to_owned());
                }
                self.rows.push(Row {
                    name: mechanism.name,
                    size,
                    payload: payload.name(),
                    p50_ns: stats::median(&rounds.p50).unwrap_or(0.0),
                    p99_ns: stats::median(&rounds.p99).unwrap_or(0.0),
                    ratio_to_limit: stats::median(&rounds.ratios),
                    iterations: count,
                    rounds: self.config.rounds,
                    extra: Vec::new(),
                    notes: notes.join("; "),
                });
            }
        }
        Ok(())
    }

    /// The CPU the worker's receiver uses waiting idle in mechanism `m`'s wait mode, in %.
    fn idle_cpu(&mut self, m: usize) -> Result<f64> {
        let wait = MECHANISMS[m].wait;
        let ms = u64::try_from(self.config.idle.as_millis()).unwrap_or(u64::MAX);
        let seq = self.control.post(OP_IDLE, wait_code(wait), ms, 0)?;
        let (cpu, wall) = self.control.await_ack(seq, &self.side.spinner)?;
        Ok(100.0 * cpu as f64 / (wall.max(1)) as f64)
    }

    /// Throughput of 1 MiB messages, copy and zero-copy, in rounds alternating with
    /// memcpy of 1 MiB.
    fn throughput(&mut self) -> Result<()> {
        let k = self.config.throughput_messages;
        let size = THROUGHPUT_SIZE;
        let src = vec![0x3cu8; size];
        let mut dst = vec![0u8; size];
        let mut memcpy = || {
            let start = Instant::now();
            for _ in 0..k {
                dst.copy_from_slice(std::hint::black_box(&src));
                std::hint::black_box(&mut dst);
            }
            start.elapsed()
        };
        let per = |d: Duration| d.as_nanos() as f64 / k as f64;
        // Warm-up.
        memcpy();
        for payload in [Payload::Copy, Payload::InPlace] {
            channel::stream(self.side, self.control, payload, size, k)?;
        }
        let mut copy_times = Vec::new();
        let mut channel_times = [Vec::new(), Vec::new()];
        let mut ratios = [Vec::new(), Vec::new()];
        for round in 0..self.config.rounds {
            let first = if round % 2 == 0 {
                Some(per(memcpy()))
            } else {
                None
            };
            let mut t = [0.0; 2];
            for (i, payload) in [Payload::Copy, Payload::InPlace].into_iter().enumerate() {
                t[i] = per(channel::stream(self.side, self.control, payload, size, k)?);
            }
            let m = first.unwrap_or_else(|| per(memcpy()));
            copy_times.push(m);
            for i in 0..2 {
                channel_times[i].push(t[i]);
                // Throughput ratio: memcpy's time over the channel's.
                ratios[i].push(m / t[i].max(f64::MIN_POSITIVE));
            }
        }
        let mb_s = |ns: f64| size as f64 / ns.max(f64::MIN_POSITIVE) * 1e3;
        let rounds = self.config.rounds;
        let row =
            |name: &'static str, payload: Payload, times: &[f64], ratio: f64, notes: String| {
                let mut ns: Vec<u64> = times.iter().map(|&t| t as u64).collect();
                let p50 = stats::median(times).unwrap_or(0.0);
                let p99 = stats::percentile(&mut ns, 99.0).unwrap_or(0) as f64;
                Row {
                    name,
                    size,
                    payload: payload.name(),
                    p50_ns: p50,
                    p99_ns: p99.max(p50),
                    ratio_to_limit: None,
                    iterations: k,
                    rounds,
                    extra: vec![("throughput_mb_s", mb_s(p50)), ("ratio_to_memcpy", ratio)],
                    notes: format!("{:.0} MB/s, {ratio:.2}x memcpy; {notes}", mb_s(p50)),
                }
            };
        self.rows.push(row(
            "memcpy",
            Payload::Copy,
            &copy_times,
            1.0,
            "memcpy of 1 MiB in this process: the baseline".to_owned(),
        ));
        let names = ["spsc_throughput_copy", "spsc_throughput_zero_copy"];
        let what = [
            "1 MiB messages streamed through the SPSC channel: try_send, recv into a Vec",
            "1 MiB messages streamed through the SPSC channel: loan, write every byte in place, commit; recv_ref, read every byte in place",
        ];
        for i in 0..2 {
            let payload = [Payload::Copy, Payload::InPlace][i];
            let ratio = stats::median(&ratios[i]).unwrap_or(0.0);
            self.rows.push(row(
                names[i],
                payload,
                &channel_times[i],
                ratio,
                what[i].to_owned(),
            ));
        }
        Ok(())
    }

    /// The rows in output order: spin_limit first, then as measured; the idle CPU on the
    /// SPSC rows of 64 bytes (zero-copy).
    pub(crate) fn finish(self) -> Vec<Row> {
        let p50: Vec<f64> = self.spin_rounds.iter().map(|r| r.0).collect();
        let p99: Vec<f64> = self.spin_rounds.iter().map(|r| r.1).collect();
        let mut rows = vec![Row {
            name: MECHANISMS[SPIN_LIMIT].name,
            size: 64,
            payload: Payload::None.name(),
            p50_ns: stats::median(&p50).unwrap_or(0.0),
            p99_ns: stats::median(&p99).unwrap_or(0.0),
            ratio_to_limit: Some(1.0),
            iterations: self.config.iterations,
            rounds: self.spin_rounds.len(),
            extra: Vec::new(),
            notes: MECHANISMS[SPIN_LIMIT].note.to_owned(),
        }];
        let mut rest = self.rows;
        for (m, percent) in &self.idle {
            if let Some(row) = rest
                .iter_mut()
                .find(|r| r.name == MECHANISMS[*m].name && r.size == 64 && r.payload == "zero_copy")
            {
                row.extra.push(("idle_cpu_percent", *percent));
                row.notes
                    .push_str(&format!("; idle receiver: {percent:.2}% CPU"));
            }
        }
        rows.extend(rest);
        rows
    }
}
