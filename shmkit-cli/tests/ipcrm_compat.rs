//! `ipcrm` compared with util-linux 2.38.1's, byte for byte (stdout, stderr, exit status),
//! each tool in its own fresh IPC namespace with the same objects; `ipcs -a` afterwards
//! shows what was removed. Root only (see `compat::available`).

// The shared harness trips a lint that is not ours to fix here.
#[allow(clippy::redundant_closure_call)]
mod compat;

use compat::Run;
use std::process::Command;

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
    /// As `nobody` (uid and gid 65534), after a setup made by root.
    Nobody,
}

/// Objects with fixed keys (created in this order, so the ids are known):
/// shm 0 (0x1234, 0644), 1 (0x5678, 0600), 2 (private, 0640); msg 0 (0x4321, 0644),
/// 1 (private, 0600); sem 0 (0x9999, 0600), 1 (0xdeadbeef, 0644), 2 (0x3f, 0644).
const STD: &str = "py '
a = s.SharedMemory(0x1234, s.IPC_CREX, 0o644, 4096)
b = s.SharedMemory(0x5678, s.IPC_CREX, 0o600, 100)
c = s.SharedMemory(s.IPC_PRIVATE, s.IPC_CREX, 0o640, 8192)
q = s.MessageQueue(0x4321, s.IPC_CREX, 0o644)
q2 = s.MessageQueue(s.IPC_PRIVATE, s.IPC_CREX, 0o600)
m = s.Semaphore(0x9999, s.IPC_CREX, 0o600, 1)
m2 = s.Semaphore(-559038737, s.IPC_CREX, 0o644, 1)
m3 = s.Semaphore(0o77, s.IPC_CREX, 0o644, 1)
'";

/// STD, then shm 0 is attached by a background process and removed: it stays, marked
/// `dest`, with key 0.
const DEST: &str = "py '
a = s.SharedMemory(0x1234, s.IPC_CREX, 0o644, 4096)
b = s.SharedMemory(0x5678, s.IPC_CREX, 0o600, 100)
'
hold_shm 0
/usr/bin/ipcrm -m 0";

/// Objects of root and of nobody, some unreadable: shm 0 (root 0x1234 0644),
/// 1 (root 0x5678 0600), 2 (nobody 0x1111 0600), 3 (nobody 0x2222 mode 0),
/// 4 (root private 0644), 5 (nobody private mode 0); msg 0 (root 0x4321 0644),
/// 1 (nobody 0x3333 0600), 2 (nobody private mode 0); sem 0 (root 0x9999 0644),
/// 1 (nobody 0x4444 mode 0).
const MIXED: &str = "py '
a = s.SharedMemory(0x1234, s.IPC_CREX, 0o644, 4096)
b = s.SharedMemory(0x5678, s.IPC_CREX, 0o600, 100)
c = s.SharedMemory(0x1111, s.IPC_CREX, 0o600, 200)
c.uid = 65534
d = s.SharedMemory(0x2222, s.IPC_CREX, 0o600, 300)
d.uid = 65534
d.mode = 0
e = s.SharedMemory(s.IPC_PRIVATE, s.IPC_CREX, 0o644, 400)
f = s.SharedMemory(s.IPC_PRIVATE, s.IPC_CREX, 0o600, 500)
f.uid = 65534
f.mode = 0
q = s.MessageQueue(0x4321, s.IPC_CREX, 0o644)
q2 = s.MessageQueue(0x3333, s.IPC_CREX, 0o600)
q2.uid = 65534
q3 = s.MessageQueue(s.IPC_PRIVATE, s.IPC_CREX, 0o600)
q3.uid = 65534
q3.mode = 0
m = s.Semaphore(0x9999, s.IPC_CREX, 0o644, 1)
m2 = s.Semaphore(0x4444, s.IPC_CREX, 0o600, 1)
m2.uid = 65534
m2.mode = 0
'";

/// Ids out of index order (set with `/proc/sys/kernel/*_next_id`): of each kind, id 65537
/// (index 1, key 0x1111) comes before id 5 (index 5, key 0x2222).
const REORDERED: &str = "py '
def next_id(kind, id):
    open(\"/proc/sys/kernel/%s_next_id\" % kind, \"w\").write(str(id))
next_id(\"shm\", 65537)
a = s.SharedMemory(0x1111, s.IPC_CREX, 0o644, 4096)
next_id(\"shm\", 5)
b = s.SharedMemory(0x2222, s.IPC_CREX, 0o644, 4096)
next_id(\"msg\", 65537)
q = s.MessageQueue(0x1111, s.IPC_CREX, 0o644)
next_id(\"msg\", 5)
q2 = s.MessageQueue(0x2222, s.IPC_CREX, 0o644)
next_id(\"sem\", 65537)
m = s.Semaphore(0x1111, s.IPC_CREX, 0o644, 1)
next_id(\"sem\", 5)
m2 = s.Semaphore(0x2222, s.IPC_CREX, 0o644, 1)
'";

const AFTER: &str = "ipcs -a";

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
        std::env::temp_dir().join(format!("shmkit-ipcrm-{}-{}", std::process::id(), unique()));
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
        How::Plain | How::Help => compat::compare_separately("ipcrm", setup, args, AFTER),
        How::DevFull | How::Nobody | How::PathArgv0 => {
            let ours = compat::ours("ipcrm");
            (
                run_wrapped("ipcrm", "/usr/bin/ipcrm", setup, args, how),
                run_wrapped("ipcrm", ours.to_str().unwrap(), setup, args, how),
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
            failures.push(format!("ipcrm {args:?} ({how:?}): {diff}"));
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
fn old_syntax() {
    check(
        "old syntax",
        How::Plain,
        &[
            (STD, &[]),
            ("", &[]),
            (STD, &["shm"]),
            (STD, &["msg"]),
            (STD, &["sem"]),
            (STD, &["shm", "0"]),
            (STD, &["shm", "0", "1", "2"]),
            (STD, &["msg", "0", "1"]),
            (STD, &["sem", "0", "1", "2"]),
            (STD, &["shm", "5"]),
            (STD, &["shm", "0", "0"]),
            (STD, &["shm", "abc"]),
            (STD, &["shm", ""]),
            (STD, &["shm", " 1"]),
            (STD, &["shm", "+1"]),
            (STD, &["shm", "-1"]),
            (STD, &["shm", "-v"]),
            (STD, &["shm", "-v", "0"]),
            (STD, &["shm", "1x"]),
            (STD, &["shm", "0x1"]),
            (STD, &["shm", " "]),
            (STD, &["shm", "-"]),
            (STD, &["shm", "99999999999"]),
            (STD, &["shm", "4294967297"]),
            (STD, &["msg", "4294967296"]),
            (STD, &["sem", "-0"]),
            (STD, &["shm", "99999999999999999999999"]),
            (STD, &["shm", "18446744073709551615"]),
            (STD, &["shm", "-4294967295"]),
            (STD, &["shm", "1", "abc", "99", "2"]),
            (STD, &["shm", "--", "0"]),
            (STD, &["SHM", "0"]),
            (STD, &["shm", "-m", "0"]),
            (DEST, &["shm", "0"]),
        ],
    );
}

#[test]
fn by_id() {
    check(
        "by id",
        How::Plain,
        &[
            (STD, &["-m", "0"]),
            (STD, &["-m", "1"]),
            (STD, &["-m", "2"]),
            (STD, &["-m", "9"]),
            (STD, &["-m", "-1"]),
            (STD, &["-m", "zz"]),
            (STD, &["-m", ""]),
            (STD, &["-m", " 0"]),
            (STD, &["-m", "0 "]),
            (STD, &["-m", "+0"]),
            (STD, &["-m", "0x1"]),
            (STD, &["-m", "2147483648"]),
            (STD, &["-m", "-2147483649"]),
            (STD, &["-m", "99999999999999999999"]),
            (STD, &["-q", "0"]),
            (STD, &["-q", "1"]),
            (STD, &["-q", "7"]),
            (STD, &["-s", "0"]),
            (STD, &["-s", "2"]),
            (STD, &["-s", "3"]),
            (STD, &["--shmem-id", "0"]),
            (STD, &["--shmem-id=1"]),
            (STD, &["--queue-id=1"]),
            (STD, &["--semaphore-id", "1"]),
            (STD, &["-m0"]),
            (STD, &["-m"]),
            (STD, &["-q"]),
            (STD, &["--shmem-id"]),
            (STD, &["-m", "1", "-m", "1", "-q", "0", "-s", "9"]),
            (STD, &["-m", "zz", "-m", "0"]),
            (STD, &["-m", "0", "-m", "zz"]),
            (DEST, &["-m", "0"]),
            (DEST, &["-v", "-m", "0", "-m", "1"]),
            ("", &["-m", "0"]),
        ],
    );
}

#[test]
fn by_key() {
    check(
        "by key",
        How::Plain,
        &[
            (STD, &["-M", "0x1234"]),
            (STD, &["-M", "4660"]),
            (STD, &["-M", "011064"]),
            (STD, &["-M", "0X1234"]),
            (STD, &["-M", " 0x1234"]),
            (STD, &["-M", "+0x1234"]),
            (STD, &["-M", "0x1235"]),
            (STD, &["-M", "0"]),
            (STD, &["-M", "0x0"]),
            (STD, &["-M", "00"]),
            (STD, &["-M", "4294967296"]),
            (STD, &["-M", "0x100000000"]),
            (STD, &["-M", "0x100001234"]),
            (STD, &["-M", ""]),
            ("export LC_ALL=C", &["-M", ""]),
            ("unset LC_ALL; export LANG=C.UTF-8", &["-M", ""]),
            ("unset LC_ALL; export LC_CTYPE=POSIX", &["-M", ""]),
            (STD, &["-M", "zz"]),
            (STD, &["-M", "0x1234 "]),
            (STD, &["-M", "0b1"]),
            (STD, &["-M", "0x"]),
            (STD, &["-M", "99999999999999999999999"]),
            (STD, &["-M", "-1"]),
            (STD, &["-M", "-4294962636"]),
            (STD, &["-Q", "0x4321"]),
            (STD, &["-Q", "0x1234"]),
            (STD, &["-S", "0x9999"]),
            (STD, &["-S", "0xdeadbeef"]),
            (STD, &["-S", "-559038737"]),
            (STD, &["-S", "077"]),
            (STD, &["-S", "63"]),
            (STD, &["-S", "0x3f"]),
            (STD, &["-S", "0x3F"]),
            (STD, &["--shmem-key=0x5678"]),
            (STD, &["--queue-key", "17185"]),
            (STD, &["--semaphore-key", "0x9999"]),
            (STD, &["-M", "0x1234", "-M", "0x1234"]),
            (STD, &["-M0x1234"]),
            (STD, &["-M"]),
            (STD, &["-M", "", "-m", "0"]),
            (STD, &["-m", "0", "-M", "zz"]),
            (DEST, &["-M", "0x1234"]),
            (DEST, &["-M", "0x5678", "-M", "0"]),
        ],
    );
}

#[test]
fn remove_all() {
    check(
        "remove all",
        How::Plain,
        &[
            (STD, &["-a"]),
            (STD, &["-ashm"]),
            (STD, &["-amsg"]),
            (STD, &["-asem"]),
            (STD, &["--all"]),
            (STD, &["--all=shm"]),
            (STD, &["--all=sem"]),
            (STD, &["--all=msg"]),
            (STD, &["--al=msg"]),
            (STD, &["--all="]),
            (STD, &["-a=sem"]),
            (STD, &["-a", "shm"]),
            (STD, &["-axyz"]),
            (STD, &["-aSHM"]),
            (STD, &["-ashm", "-amsg"]),
            (STD, &["-amsg", "-a"]),
            (STD, &["-v", "-a"]),
            (STD, &["-a", "-v"]),
            (STD, &["-v", "-asem"]),
            (STD, &["-a", "extra"]),
            (STD, &["-a", "-m", "0"]),
            (STD, &["-v", "-a", "-m", "0", "-M", "0x5678"]),
            (STD, &["-axyz", "-m", "0"]),
            (STD, &["-m", "0", "-axyz"]),
            ("", &["-a"]),
            ("", &["-v", "-a"]),
            (DEST, &["-a"]),
            (DEST, &["-v", "-ashm"]),
            (REORDERED, &["-v", "-a"]),
            (
                REORDERED,
                &[
                    "-v", "-m", "1", "-m", "65537", "-M", "0x2222", "-q", "5", "-s", "1",
                ],
            ),
        ],
    );
}

#[test]
fn verbose_combinations_and_getopt() {
    check(
        "verbose, combinations, getopt",
        How::Plain,
        &[
            (STD, &["-v", "-m", "0"]),
            (STD, &["-m", "0", "-v", "-m", "1"]),
            (STD, &["-v", "-m", "9"]),
            (STD, &["-v", "-M", "0x1234"]),
            (STD, &["-v", "-M", "0x1235"]),
            (STD, &["-v", "-M", "0"]),
            (STD, &["--verbose", "-q", "0", "-s", "0", "-S", "0x3f"]),
            (STD, &["-vm0"]),
            (STD, &["-vm", "1"]),
            (STD, &["-m", "0", "extra"]),
            (STD, &["-m", "0", "extra", "-q", "5"]),
            (STD, &["x", "-m", "0"]),
            (STD, &["--", "-m", "0"]),
            (STD, &["-m", "0", "--", "x"]),
            (STD, &["-m", "0", "-"]),
            (STD, &["-x"]),
            (STD, &["-Z", "-m", "0"]),
            (STD, &["-m", "0", "-Z", "-m", "1"]),
            (STD, &["--foo"]),
            (STD, &["--foo=bar"]),
            (STD, &["--s", "0"]),
            (STD, &["--shmem", "0"]),
            (STD, &["--sem", "0"]),
            (STD, &["--q", "0"]),
            (STD, &["--v"]),
            (STD, &["--ver"]),
            (STD, &["--verb", "-m", "0"]),
            (STD, &["--vers"]),
            (STD, &["--verbose=1"]),
            (STD, &["--he=x"]),
            (STD, &["--a"]),
            (STD, &["-V"]),
            (STD, &["--version"]),
            (STD, &["-m", "0", "-V"]),
            (STD, &["-V", "-m", "0"]),
            (STD, &["-vV"]),
            (STD, &["-m", "9", "-V"]),
        ],
    );
}

#[test]
fn help() {
    check(
        "help",
        How::Help,
        &[
            (STD, &["-h"]),
            (STD, &["--help"]),
            (STD, &["--h"]),
            (STD, &["-m", "0", "-h", "-m", "1"]),
        ],
    );
}

#[test]
fn stdout_is_dev_full() {
    check(
        "stdout is /dev/full",
        How::DevFull,
        &[
            (STD, &[]),
            (STD, &["-v", "-m", "0"]),
            (STD, &["-m", "0"]),
            (STD, &["shm", "0"]),
            (STD, &["shm", "9"]),
            (STD, &["-V"]),
            (STD, &["-h"]),
            (STD, &["-v", "-m", "9"]),
            (STD, &["-v", "-a"]),
            (STD, &["-v", "-m", "0", "x"]),
            (STD, &["-Z"]),
        ],
    );
}

#[test]
fn as_nobody() {
    check(
        "as nobody",
        How::Nobody,
        &[
            (MIXED, &["-m", "0"]),
            (MIXED, &["-m", "1"]),
            (MIXED, &["-m", "2"]),
            (MIXED, &["-m", "3"]),
            (MIXED, &["-m", "4"]),
            (MIXED, &["-m", "5"]),
            (MIXED, &["-v", "-q", "2"]),
            (MIXED, &["-M", "0x1234"]),
            (MIXED, &["-M", "0x5678"]),
            (MIXED, &["-M", "0x1111"]),
            (MIXED, &["-M", "0x2222"]),
            (MIXED, &["-q", "0"]),
            (MIXED, &["-q", "1"]),
            (MIXED, &["-Q", "0x3333"]),
            (MIXED, &["-s", "0"]),
            (MIXED, &["-s", "1"]),
            (MIXED, &["-S", "0x4444"]),
            (MIXED, &["-S", "0x9999"]),
            (MIXED, &["-a"]),
            (MIXED, &["-v", "-a"]),
            (MIXED, &["-v", "-ashm"]),
            (MIXED, &["shm", "0", "1", "2", "3"]),
        ],
    );
}

#[test]
fn invoked_by_path() {
    check(
        "invoked by path",
        How::PathArgv0,
        &[
            (STD, &["-Z"]),
            (STD, &["--foo"]),
            (STD, &["-m"]),
            (STD, &["--s", "0"]),
            (STD, &["-m", "9", "x"]),
            (STD, &["shm"]),
            (STD, &["-V"]),
        ],
    );
}
