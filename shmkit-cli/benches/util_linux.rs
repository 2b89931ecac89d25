//! `ipcs -a` and `lsipc --json` over 4,000 segments: ours versus util-linux's
//! (`/usr/bin/ipcs`, `/usr/bin/lsipc`), measured in the same run. The benchmark enters a
//! private IPC namespace (root only), creates the segments there through the library, and
//! runs the two binaries alternately (A B, then B A, ...); the result is the median of the
//! per-round ratios of wall times.
//!
//! `cargo bench -p shmkit-cli --bench util_linux` (`SHMKIT_BENCH_ROUNDS`, `SHMKIT_BENCH_SEGMENTS`).
#![allow(missing_docs)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn wall(bin: &str, name: &str, args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new("bash")
        .args(["-c", &format!("exec -a {name} {bin} \"$@\"",), "bench"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running the tool");
    let elapsed = start.elapsed();
    assert!(status.success(), "{bin} {args:?} failed");
    elapsed
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    if shmkit::info::effective_uid() != 0 {
        println!("util_linux bench: skipped (needs root for a private IPC namespace)");
        return;
    }
    // SAFETY: unshare(CLONE_NEWIPC) only changes this process's IPC namespace; no thread
    // has been started yet.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWIPC) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWIPC): {}",
        std::io::Error::last_os_error()
    );
    let count = if smoke {
        50
    } else {
        env("SHMKIT_BENCH_SEGMENTS", 4000)
    };
    let rounds = if smoke {
        2
    } else {
        env("SHMKIT_BENCH_ROUNDS", 11)
    };
    let mut segments = Vec::new();
    for i in 0..count {
        let key = shmkit::Key::from_raw(0x5000_0000 + i as i32);
        let seg = shmkit::Segment::builder(key)
            .size(4096 + i as usize)
            .mode(0o640)
            .create()
            .expect("create");
        segments.push(seg.remove_on_drop());
    }
    let target = std::path::Path::new(env!("CARGO_BIN_EXE_ipcs"))
        .parent()
        .unwrap()
        .to_owned();
    for (tool, args) in [
        ("ipcs", &["-a"][..]),
        ("lsipc", &["--json"][..]),
        ("lsipc", &["-m", "--json"][..]),
        ("lsipc", &["-m"][..]),
    ] {
        let ours = target.join(tool);
        let ours = ours.to_str().unwrap();
        let real = format!("/usr/bin/{tool}");
        wall(&real, tool, args);
        wall(ours, tool, args);
        let mut ratios = Vec::new();
        let (mut rt, mut ot) = (Duration::ZERO, Duration::ZERO);
        for round in 0..rounds {
            let (r, o) = if round % 2 == 0 {
                let r = wall(&real, tool, args);
                (r, wall(ours, tool, args))
            } else {
                let o = wall(ours, tool, args);
                (wall(&real, tool, args), o)
            };
            rt += r;
            ot += o;
            ratios.push(o.as_secs_f64() / r.as_secs_f64());
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "{tool} {} over {count} segments: util-linux {:.2} ms, shmkit {:.2} ms; ratio shmkit/util-linux median {:.3} (min {:.3}, max {:.3}) over {rounds} interleaved rounds",
            args.join(" "),
            rt.as_secs_f64() * 1000.0 / f64::from(rounds),
            ot.as_secs_f64() * 1000.0 / f64::from(rounds),
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
}
