//! `ipcmk` compared with util-linux 2.38.1's, byte for byte (stdout, stderr, exit status),
//! each tool in its own fresh IPC namespace; `ipcs -a` afterwards (keys masked: they are
//! random) shows what was created. Root only (see `compat::available`).

// The shared harness trips a lint that is not ours to fix here.
#[allow(clippy::redundant_closure_call)]
mod compat;

use compat::Run;
use std::process::Command;

const TOOL: &str = "ipcmk";

/// How a case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// As root, stdout to a file.
    Plain,
    /// Help: the texts are our own, so stdout before the `ipcs` part is not compared.
    Help,
    /// Stdout is `/dev/full`.
    DevFull,
    /// Invoked as `/usr/bin/TOOL` (getopt's messages use argv[0] verbatim, the rest the
    /// basename).
    PathArgv0,
    /// As `nobody` (uid and gid 65534).
    Nobody,
}

/// The objects made, without their random keys.
const AFTER: &str = r"ipcs -a | sed 's/^0x[0-9a-f]\{8\} /0x________ /'";

const MINI_PRELUDE: &str = "set -e\nexport LC_ALL=C.UTF-8\n__pids=()\n";

/// Faster versions of the harness's `py` and `hold_shm`: Python without `site` (its
/// start-up, through a version manager's shim, dominates a case's time), finding
/// `sysv_ipc` where the full interpreter finds it.
fn fast_helpers() -> &'static str {
    static HELPERS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HELPERS.get_or_init(|| {
        let out = Command::new(compat::python())
            .args([
                "-c",
                "import sys, os, sysv_ipc; print(sys.executable); print(os.path.dirname(sysv_ipc.__file__))",
            ])
            .output()
            .expect("python3 with sysv_ipc (run scripts/test.sh)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let (exe, dir) = (lines.next().unwrap_or("python3"), lines.next().unwrap_or("."));
        let python = format!(
            "{} -S -c \"import sys; sys.path.insert(0, '{dir}')\nimport sysv_ipc as s, signal",
            quote(exe)
        );
        format!(
            r#"
py() {{ {python}
$1"; }}
hold_shm() {{
  local f; f=$(mktemp -u); mkfifo "$f"
  {python}
m = s.attach($1)
open('$f', 'w').write('ok\n')
signal.pause()" > /dev/null 2>&1 &
  __pids+=($!); disown; read -r _ < "$f"; rm -f "$f"
}}
"#
        )
    })
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs one tool (`bin`, invoked as `tool`) in a fresh namespace, stdout to /dev/full or
/// as nobody; `after` is appended to stdout as `compat::compare_separately` does.
fn run_wrapped(tool: &str, bin: &str, setup: &str, args: &[&str], how: How) -> Run {
    let dir =
        std::env::temp_dir().join(format!("shmkit-ipcmk-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let args: Vec<String> = args.iter().map(|a| quote(a)).collect();
    let d = dir.display();
    let run = match how {
        How::DevFull => format!(
            "(exec -a {tool} {bin} {args}) > /dev/full 2> {d}/err",
            bin = quote(bin),
            args = args.join(" ")
        ),
        How::PathArgv0 => format!(
            "(exec -a /usr/bin/{tool} {bin} {args}) > {d}/out 2> {d}/err",
            bin = quote(bin),
            args = args.join(" ")
        ),
        _ => format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'exec -a \"$0\" \"$@\"' {tool} {bin} {args} > {d}/out 2> {d}/err",
            bin = quote(bin),
            args = args.join(" ")
        ),
    };
    let script = format!(
        "{MINI_PRELUDE}\n{setup}\nset +e\n{run}\necho $? > {d}/rc\nset -e\necho '--- after' >> {d}/out\n{AFTER} >> {d}/out 2>&1\n"
    );
    let status = Command::new("unshare")
        .args(["--ipc", "bash", "-c", &script])
        .status()
        .expect("running unshare");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert!(status.success(), "setup failed: {setup}\n{}", read("err"));
    let result = Run {
        stdout: read("out"),
        stderr: read("err"),
        status: read("rc").trim().parse().unwrap_or(-1),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn compare(setup: &str, args: &[&str], how: How) -> (Run, Run) {
    let setup = &format!("{}\n{setup}", fast_helpers());
    match how {
        How::Plain | How::Help => compat::compare_separately(TOOL, setup, args, AFTER),
        How::DevFull | How::Nobody | How::PathArgv0 => {
            let ours = compat::ours(TOOL);
            (
                run_wrapped(TOOL, "/usr/bin/ipcmk", setup, args, how),
                run_wrapped(TOOL, ours.to_str().unwrap(), setup, args, how),
            )
        }
    }
}

/// The first difference between two runs, if any.
fn difference(real: &Run, ours: &Run) -> Option<String> {
    for (field, a, b) in [
        ("stdout", &real.stdout, &ours.stdout),
        ("stderr", &real.stderr, &ours.stderr),
    ] {
        if a != b {
            return Some(format!(
                "{field} differs\n--- util-linux ---\n{a}--- shmkit ---\n{b}"
            ));
        }
    }
    (real.status != ours.status).then(|| {
        format!(
            "exit status differs: util-linux {}, shmkit {}",
            real.status, ours.status
        )
    })
}

/// Drops what precedes the `--- after` marker (the help text).
fn after_part(run: &mut Run) {
    let at = run.stdout.find("--- after").unwrap_or(0);
    run.stdout.drain(..at);
}

/// Runs every case, then fails with all the differences (and says how many matched).
fn check(name: &str, how: How, cases: &[(&str, &[&str])]) {
    if !compat::available() {
        return;
    }
    let mut failures = Vec::new();
    for (setup, args) in cases {
        let (mut real, mut ours) = compare(setup, args, how);
        if how == How::Help {
            assert!(
                ours.stdout.len() > "--- after\n".len() + 100,
                "no help text for {args:?}"
            );
            after_part(&mut real);
            after_part(&mut ours);
        }
        if let Some(diff) = difference(&real, &ours) {
            failures.push(format!("ipcmk {args:?} ({how:?}): {diff}"));
        }
    }
    eprintln!(
        "{name}: {}/{} cases identical to util-linux",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn options_and_usage() {
    check(
        "options",
        How::Plain,
        &[
            ("", &[]),
            ("", &["-p", "644"]),
            ("", &["x"]),
            ("", &["-Q"]),
            ("", &["-M", "4096"]),
            ("", &["-S", "1"]),
            ("", &["-M", "1", "-Q", "-S", "2"]),
            ("", &["-S", "3", "-Q", "-M", "10"]),
            ("", &["-Q", "-Q"]),
            ("", &["-M", "1", "-M", "2"]),
            ("", &["-S", "1", "-S", "5"]),
            ("", &["-Q", "extra", "words"]),
            ("", &["--queue"]),
            ("", &["--shmem", "100"]),
            ("", &["--shmem=100"]),
            ("", &["--sh=5"]),
            ("", &["--semaphore=2"]),
            ("", &["--se", "2"]),
            ("", &["--s", "2"]),
            ("", &["--q"]),
            ("", &["--mode=600", "-Q"]),
            ("", &["--m", "600", "-Q"]),
            ("", &["--v"]),
            ("", &["-V"]),
            ("", &["--version"]),
            ("", &["-Q", "-V"]),
            ("", &["-V", "-Q"]),
            ("", &["-Z"]),
            ("", &["-Q", "-Z"]),
            ("", &["--foo"]),
            ("", &["--queue=1"]),
            ("", &["-M"]),
            ("", &["-S"]),
            ("", &["-p"]),
            ("", &["--mode"]),
            ("", &["-Q", "-p"]),
            ("", &["-QM100"]),
            ("", &["-QS2"]),
            ("", &["-M100Q"]),
            ("", &["-Q", "--", "-M", "1"]),
            (
                "py 's.SharedMemory(0x1234, s.IPC_CREX, 0o600, 4096)'",
                &["-M", "1", "-Q"],
            ),
        ],
    );
}

#[test]
fn sizes() {
    let sizes = [
        "1",
        "4096",
        "0",
        "1K",
        "1k",
        "1KiB",
        "1kib",
        "1KB",
        "1kB",
        "1Kb",
        "1kb",
        "1Kib",
        "1KIB",
        "1M",
        "1MB",
        "1mib",
        "1e",
        "1E",
        "16E",
        "17E",
        "1Z",
        "1Y",
        "0Y",
        "0.5Y",
        "15E",
        "0x100",
        "0X10K",
        "010",
        "010K",
        "0x",
        "08",
        " 1K",
        "+1K",
        "1 K",
        "1K ",
        "1.5K",
        "0.5K",
        "1.05K",
        "1.005K",
        "1.015K",
        "0.25K",
        "1.123456789K",
        "1.9999999999999999999K",
        "0.99999999999999999999K",
        "0.0000000000000000001E",
        "1.5",
        "1.",
        "1.0K",
        "1.K",
        "1.00.5K",
        "1.5.5K",
        "1.0x5K",
        ".5K",
        "0.5M",
        "1.5KB",
        "1.5KiB",
        "1.5kb",
        "abc",
        "",
        " -1",
        "-1",
        "1Ki",
        "1K2",
        "1KiBx",
        "1X",
        "0b1",
        "99999999999999999999999",
        "18446744073709551615",
        "18446744073709551616",
    ];
    let cases: Vec<(&str, [&str; 2])> = sizes.iter().map(|s| ("", ["-M", s])).collect();
    let cases: Vec<(&str, &[&str])> = cases.iter().map(|(s, a)| (*s, &a[..])).collect();
    check("sizes", How::Plain, &cases);
}

#[test]
fn a_fraction_of_zeros_reads_past_the_argument() {
    // C's parse_size looks at the bytes after "1.0"'s NUL: the next word (or the
    // environment), so these differ by what follows.
    check(
        "sizes ending in .0",
        How::Plain,
        &[
            ("", &["-M", "1.0"]),
            ("", &["-M", "0.0"]),
            ("", &["-M", "1.0", ""]),
            ("", &["-M", "0.0", ""]),
            ("", &["-M", "1.0", "B"]),
            ("", &["-M", "1.0", "b", "-Q"]),
            ("", &["-M", "1.0", "iB"]),
            ("", &["-M", "1.0", "ib"]),
            ("", &["-M", "1.0", "iBx"]),
            ("", &["-M", "1.0", "-Q"]),
            ("", &["-M1.0", ""]),
            ("", &["--shmem=1.00", ""]),
            ("", &["-Q", "-M", "2.000", "iB"]),
        ],
    );
}

#[test]
fn semaphores_and_failures() {
    check(
        "semaphores, failures",
        How::Plain,
        &[
            ("", &["-S", "0"]),
            ("", &["-S", "-1"]),
            ("", &["-S", "100000"]),
            ("", &["-S", "32000"]),
            ("", &["-S", "32001"]),
            ("", &["-S", "1x"]),
            ("", &["-S", ""]),
            ("", &["-S", "99999999999"]),
            ("", &["-S", " 2"]),
            ("", &["-S", "+2"]),
            ("", &["-S", "0x2"]),
            ("", &["-S", "2147483648"]),
            ("", &["-S", "-2147483649"]),
            ("", &["--semaphore", "7"]),
            ("", &["-M", "0", "-Q"]),
            ("", &["-Q", "-S", "0"]),
            ("", &["-M", "1", "-S", "-1", "-Q"]),
            ("", &["-M", "1E", "-Q", "-S", "1"]),
            ("", &["-S", "1", "-M", "abc", "-Q"]),
            ("", &["-Q", "-M", "1", "-S", "zz"]),
        ],
    );
}

#[test]
fn modes() {
    check(
        "modes",
        How::Plain,
        &[
            ("", &["-Q", "-p", "600"]),
            ("", &["-M", "1", "-Q", "-S", "1", "-p", "0"]),
            ("", &["-M", "1", "-Q", "-S", "1", "-p", "777"]),
            ("", &["-M", "1", "-Q", "-S", "1", "-p", "1777"]),
            ("", &["-M", "1", "-Q", "-S", "1", "-p", "2644"]),
            ("", &["-Q", "-S", "1", "-p", "4644"]),
            ("", &["-M", "4096", "-p", "4644"]),
            ("", &["-M", "4096", "-Q", "-p", "14644"]),
            ("", &["-M", "4096", "-p", "10644"]),
            ("", &["-M", "4096", "-p", "12400004644"]),
            ("", &["-M", "4096", "-p", "12400014644"]),
            ("", &["-M", "4096", "-p", "17000014644"]),
            ("", &["-M", "4096", "-p", "13000014644"]),
            ("", &["-M", "4096", "-p", "37777777777"]),
            ("", &["-M", "1", "-Q", "-S", "1", "-p", "40000000644"]),
            ("", &["-Q", "-S", "1", "-p", "-1"]),
            ("", &["-M", "1", "-p", "-1"]),
            ("", &["-Q", "-p", "-0"]),
            ("", &["-Q", "-p", "8"]),
            ("", &["-Q", "-p", "abc"]),
            ("", &["-Q", "-p", "0x644"]),
            ("", &["-Q", "-p", ""]),
            ("", &["-Q", "-p", " 600"]),
            ("", &["-Q", "-p", "+600"]),
            ("", &["-Q", "-p", "600 "]),
            ("", &["-Q", "-p", "77777777777777777777777777"]),
            ("", &["-Q", "-p", "1777777777777777777777"]),
            ("", &["-p", "8"]),
            ("", &["-p", "600", "-p", "640", "-Q"]),
            ("", &["-Q", "-p", "600", "-M", "10", "--mode=0640"]),
            ("", &["-p600", "-Q"]),
        ],
    );
}

#[test]
fn help() {
    check(
        "help",
        How::Help,
        &[
            ("", &["-h"]),
            ("", &["--help"]),
            ("", &["-Q", "-h", "-M", "1"]),
        ],
    );
}

#[test]
fn stdout_is_dev_full() {
    check(
        "stdout is /dev/full",
        How::DevFull,
        &[
            ("", &["-Q"]),
            ("", &["-M", "1", "-Q", "-S", "1"]),
            ("", &["-V"]),
            ("", &["-h"]),
            ("", &["-M", "0"]),
            ("", &[]),
            ("", &["-Q", "-p", "8"]),
        ],
    );
}

#[test]
fn as_nobody() {
    check(
        "as nobody",
        How::Nobody,
        &[("", &["-Q"]), ("", &["-M", "1K", "-p", "600", "-S", "2"])],
    );
}

#[test]
fn invoked_by_path() {
    check(
        "invoked by path",
        How::PathArgv0,
        &[
            ("", &["-Z"]),
            ("", &["--s", "1"]),
            ("", &["-M"]),
            ("", &[]),
            ("", &["-M", "x"]),
            ("", &["-V"]),
        ],
    );
}
