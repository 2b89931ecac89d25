//! Integration tests of `shmkit bench`: the real binary, its real worker process, real
//! kernel objects. No timing assertions: only the shape of the output, the exit statuses,
//! and that no segment is left behind.

use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

const BIN: &str = env!("CARGO_BIN_EXE_shmkit");

/// The names every run reports at 64 bytes.
const REQUIRED: [&str; 9] = [
    "spin_limit",
    "spsc_poll",
    "spsc_block",
    "spsc_adaptive",
    "pubsub_poll",
    "futex",
    "pipe",
    "uds",
    "eventfd",
];

/// Benchmarks busy-poll on two pinned CPUs: two at once would measure each other and take
/// scheduler time slices per round trip. The tests run them one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bench(args: &[&str]) -> Output {
    let _serial = serial();
    Command::new(BIN)
        .arg("bench")
        .args(args)
        .output()
        .expect("run shmkit bench")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn quick_json_has_every_mechanism_at_64_bytes_and_a_spsc_sweep() {
    let out = bench(&["--quick", "--json"]);
    assert!(
        out.status.success(),
        "{}\nstderr: {}",
        out.status,
        text(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let object = doc.as_object().expect("a JSON object");
    assert_eq!(object.len(), 1, "only \"results\" at the top: {doc}");
    let results = doc["results"].as_array().expect("results is an array");
    for name in REQUIRED {
        let row = results
            .iter()
            .find(|r| r["name"] == name && r["size"] == 64)
            .unwrap_or_else(|| panic!("no {name} row at 64 bytes in {doc:#}"));
        let p50 = row["p50_ns"].as_f64().expect("p50_ns is a number");
        let p99 = row["p99_ns"].as_f64().expect("p99_ns is a number");
        assert!(p50 > 0.0, "{name}: p50 {p50}");
        assert!(p50 <= p99, "{name}: p50 {p50} > p99 {p99}");
        assert!(row["ratio_to_limit"].as_f64().is_some(), "{name}: {row}");
        assert!(row["iterations"].as_u64().is_some_and(|n| n > 0), "{name}");
    }
    for name in ["spsc_poll", "spsc_block", "spsc_adaptive"] {
        for payload in ["zero_copy", "copy"] {
            let sizes: Vec<u64> = results
                .iter()
                .filter(|r| r["name"] == name && r["payload"] == payload)
                .filter_map(|r| r["size"].as_u64())
                .collect();
            assert!(
                sizes.len() >= 3 && sizes.contains(&64) && sizes.contains(&(4 << 20)),
                "{name} {payload}: sizes {sizes:?}"
            );
        }
        let idle = results
            .iter()
            .find(|r| r["name"] == name && r["size"] == 64 && r["payload"] == "zero_copy")
            .and_then(|r| r["idle_cpu_percent"].as_f64());
        assert!(idle.is_some_and(|p| p >= 0.0), "{name}: idle_cpu_percent");
    }
    for name in [
        "memcpy",
        "spsc_throughput_copy",
        "spsc_throughput_zero_copy",
    ] {
        let row = results
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} row"));
        assert_eq!(row["size"], 1 << 20, "{name}");
        assert!(
            row["throughput_mb_s"].as_f64().is_some_and(|t| t > 0.0),
            "{name}"
        );
        assert!(
            row["ratio_to_memcpy"].as_f64().is_some_and(|r| r > 0.0),
            "{name}"
        );
        assert!(row["p50_ns"].as_f64().unwrap() <= row["p99_ns"].as_f64().unwrap());
    }
}

#[test]
fn table_has_its_header_and_footnotes() {
    let out = bench(&["--quick", "--only", "spsc_poll,pipe", "--sizes", "64,4K"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // After the --quick warning and a blank line.
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("name "));
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["name", "size", "p50_ns", "p99_ns", "ratio", "notes"]
    );
    let names: Vec<&str> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names[0], "spin_limit");
    for name in ["spsc_poll", "pipe"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    for absent in ["uds", "eventfd", "futex", "memcpy", "spsc_block"] {
        assert!(!names.contains(&absent), "{absent} in {names:?}");
    }
    // 64 B and 4 KiB, zero-copy and copy.
    assert_eq!(names.iter().filter(|&&n| n == "spsc_poll").count(), 4);
    assert!(stdout.contains("One way = half a round trip"), "{stdout}");
}

const INDICATIVE: &str = "--quick: the figures are indicative only (";

/// Issue 10, item 5: `bench --quick` printed its figures like a measurement's. It now says
/// first that they are indicative only (with --json on standard error, so that standard
/// output stays one JSON document); a run without --quick does not say so.
#[test]
fn quick_says_its_figures_are_indicative_only() {
    let small = ["--only", "pipe", "--sizes", "64"];
    let out = bench(&[&["--quick"][..], &small].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with(INDICATIVE), "{stdout}");
    assert!(
        first.contains("20 round trips in 2 rounds per figure")
            && first.contains("not a measurement"),
        "{first}"
    );

    let out = bench(&[&["--quick", "--json"][..], &small].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("shmkit: {INDICATIVE}")),
        "{stderr}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("standard output is JSON");
    assert!(doc["results"].is_array(), "{doc}");

    let out = bench(&[&["--iterations", "20", "--rounds", "1"][..], &small].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("indicative"), "{all}");
    assert!(all.starts_with("name "), "{all}");
}

#[test]
fn bad_options_are_usage_errors() {
    for args in [
        &["--iterations", "0"][..],
        &["--iterations", "many"],
        &["--rounds", "0"],
        &["--only", "carrier_pigeon"],
        &["--sizes", "0"],
        &["--sizes", "64,32M"],
        &["--sizes", "12X"],
        &["--cpus", "0"],
        &["--cpus", "0,0"],
        &["--cpus", "0,4096"],
        &["--no-such-flag"],
    ] {
        let out = bench(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "bench {args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "bench {args:?}: {stderr}");
        assert!(text(&out.stdout).is_empty(), "bench {args:?}");
    }
}

#[test]
fn help_explains_the_rows_and_the_one_way_convention() {
    let out = bench(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in [
        "half a round trip",
        "spin_limit",
        "pinned",
        "--only",
        "--cpus",
    ] {
        assert!(help.contains(needle), "{needle} not in:\n{help}");
    }
    assert!(!help.contains("--shmid"), "the worker's flags are hidden");
}

/// Whether `pid` created a segment that the kernel still lists.
fn has_segment(pid: i32) -> Option<shmkit::SegmentStat> {
    shmkit::info::segments()
        .expect("list segments")
        .into_iter()
        .find(|s| s.cpid == pid)
}

#[test]
fn no_segment_is_left_behind() {
    let _serial = serial();
    let child = Command::new(BIN)
        .args([
            "bench",
            "--quick",
            "--only",
            "spsc_block,eventfd",
            "--sizes",
            "64,64K",
        ])
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shmkit bench");
    let pid = child.id() as i32;
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["results"].as_array().is_some_and(|r| r.len() >= 3));
    assert_eq!(has_segment(pid), None, "the run's segment is still there");
}

#[test]
fn sigint_stops_the_worker_and_leaves_no_segment() {
    let _serial = serial();
    let mut child = Command::new(BIN)
        .args(["bench", "--only", "spsc_block", "--iterations", "100000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shmkit bench");
    let pid = child.id() as i32;
    // Wait (without sleeping) until the worker has attached the segment: both processes
    // are in the middle of the run.
    loop {
        if has_segment(pid).is_some_and(|s| s.nattch == 2) {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "bench ended early");
        std::thread::yield_now();
    }
    // SAFETY: kill takes plain integers; `pid` is our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGINT),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("interrupted"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(has_segment(pid), None, "the run's segment is still there");
}
