//! A harness that runs util-linux's real tool and ours on the same scenario, in a private
//! IPC namespace (`unshare --ipc`, root only), and compares stdout, stderr and exit status
//! byte for byte.
//!
//! A scenario is a bash `setup` script run inside the namespace first; it may create
//! objects with the real `ipcmk` or with the prelude's helpers (Python `sysv_ipc`), and start
//! background processes that hold attachments or wait on semaphores. Then both tools run
//! with the same arguments and environment, each invoked under the bare tool name
//! (`exec -a ipcs`) so that `argv[0]` is the same. Everything created disappears with the
//! namespace.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::path::PathBuf;
use std::process::Command;

/// What one tool printed and returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

/// The helpers available to setup scripts.
///
/// - `hold_shm ID`: a background process attaches segment ID and keeps it attached.
/// - `wait_sem ID NUM`: a background process blocks decrementing semaphore NUM of set ID
///   (returns once the kernel counts it as waiting).
/// - `py 'code'`: runs Python with `sysv_ipc` imported as `s` (e.g. create objects with
///   exact attributes: `py 's.SharedMemory(0x1234, s.IPC_CREX, 0o640, 4096)'`).
/// - `shmid KEY` / `semid KEY` / `msqid KEY`: the id of the object with that key.
const PRELUDE: &str = r#"
set -e
export LC_ALL=C.UTF-8
__fifo_dir=$(mktemp -d)
__pids=()
cleanup() { for p in "${__pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$__fifo_dir"; }
trap cleanup EXIT
py() { python3 -c "import sysv_ipc as s
$1"; }
hold_shm() {
  local f="$__fifo_dir/hold$1"; mkfifo "$f"
  python3 -c "import sysv_ipc as s, signal
m = s.attach($1)
open('$f', 'w').write('ok\\n')
signal.pause()" > /dev/null 2>&1 &
  __pids+=($!); disown; read -r _ < "$f"
}
wait_sem() {
  python3 - "$1" "$2" > /dev/null 2>&1 <<'PY' &
import ctypes, ctypes.util, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
class sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short), ("sem_flg", ctypes.c_short)]
op = sembuf(int(sys.argv[2]), -1, 0)
libc.semop(int(sys.argv[1]), ctypes.byref(op), 1)
PY
  __pids+=($!); disown
  until [ "$(python3 -c "import ctypes, ctypes.util
libc = ctypes.CDLL(ctypes.util.find_library('c'))
print(libc.semctl($1, $2, 14))")" -ge 1 ]; do :; done
}
shmid() { awk -v k=$(( $1 )) 'NR>1 && $1==k {print $2; exit}' /proc/sysvipc/shm; }
semid() { awk -v k=$(( $1 )) 'NR>1 && $1==k {print $2; exit}' /proc/sysvipc/sem; }
msqid() { awk -v k=$(( $1 )) 'NR>1 && $1==k {print $2; exit}' /proc/sysvipc/msg; }
"#;

/// The Python interpreter of the scenarios: `$SHMKIT_PYTHON`, which `scripts/test.sh` sets
/// to the virtual environment it makes with `sysv_ipc` (system-wide `pip install` is
/// refused on Debian 12), else `python3`.
pub fn python() -> String {
    std::env::var("SHMKIT_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// A bash line that puts the directory of [`python`]'s executable first on `PATH`, so that
/// `python3` in a scenario is that interpreter (a virtual environment's, or the
/// interpreter itself rather than a version manager's shim, which costs a tenth of a
/// second per start); empty when it cannot be found.
pub fn python_path_line() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(|| {
        // `sys.executable` as it is, not resolved: a virtual environment's `bin/python3` is
        // a link to the base interpreter, whose directory lacks the environment's packages.
        let dir = Command::new(python())
            .args([
                "-c",
                "import os, sys; print(os.path.dirname(sys.executable))",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        if dir.is_empty() || dir.contains('\'') {
            String::new()
        } else {
            format!("export PATH='{dir}':\"$PATH\"\n")
        }
    })
}

/// Our binary for `tool` (`ipcs`, `ipcrm`, `ipcmk`, `lsipc`).
pub fn ours(tool: &str) -> PathBuf {
    let bin = match tool {
        "ipcs" => env!("CARGO_BIN_EXE_ipcs"),
        "ipcrm" => env!("CARGO_BIN_EXE_ipcrm"),
        "ipcmk" => env!("CARGO_BIN_EXE_ipcmk"),
        "lsipc" => env!("CARGO_BIN_EXE_lsipc"),
        other => panic!("no tool {other}"),
    };
    PathBuf::from(bin)
}

/// Whether the comparison can run here: root (for `unshare --ipc`), the real tools, and
/// Python's `sysv_ipc` for the prelude ([`python`]). Prints why not and returns false
/// otherwise; CI runs as root with everything installed (`scripts/test.sh`).
pub fn available() -> bool {
    if shmkit::info::effective_uid() != 0 {
        eprintln!("SKIPPED: comparing with util-linux needs root (unshare --ipc)");
        return false;
    }
    for tool in ["ipcs", "ipcrm", "ipcmk", "lsipc", "unshare"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "util-linux's {tool} is missing: apt-get install util-linux"
        );
    }
    let py = Command::new(python())
        .args(["-c", "import sysv_ipc"])
        .status();
    assert!(
        py.map(|s| s.success()).unwrap_or(false),
        "python3 with sysv_ipc is needed for the scenarios ({} cannot import it): run \
         scripts/test.sh, which makes a virtual environment with it under target/pyenv, or \
         set SHMKIT_PYTHON to a python3 that imports it",
        python()
    );
    true
}

/// Runs `setup`, then the real `tool` and ours with `args`, in one fresh IPC namespace.
/// `env` is added to both tools' environment (e.g. `TZ`). With `ours_first`, ours runs
/// first (for tools that change state, run each in its own namespace instead: see
/// [`compare_separately`]).
pub fn compare(tool: &str, setup: &str, args: &[&str], env: &[(&str, &str)]) -> (Run, Run) {
    let real = format!("/usr/bin/{tool}");
    let ours = ours(tool);
    let dir = std::env::temp_dir().join(format!(
        "shmkit-compat-{}-{:x}",
        std::process::id(),
        rand_u64()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    let envs: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k}={}", shell_quote(v)))
        .collect();
    let run_one = |label: &str, bin: &str| {
        format!(
            "set +e\n(export {envs}; exec -a {tool} {bin} {args}) > {d}/{label}.out 2> {d}/{label}.err\necho $? > {d}/{label}.rc\nset -e\n",
            envs = if envs.is_empty() { "LC_ALL=C.UTF-8".to_owned() } else { envs.join(" ") },
            tool = tool,
            bin = shell_quote(bin),
            args = quoted.join(" "),
            d = dir.display(),
            label = label
        )
    };
    let script = format!(
        "{}{PRELUDE}\n{setup}\n{}{}",
        python_path_line(),
        run_one("real", &real),
        run_one("ours", ours.to_str().unwrap())
    );
    let output = Command::new("unshare")
        .args(["--ipc", "bash", "-c", &script])
        .output()
        .expect("running unshare");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let result = if output.status.success() {
        let get = |label: &str| Run {
            stdout: read(&format!("{label}.out")),
            stderr: read(&format!("{label}.err")),
            status: read(&format!("{label}.rc")).trim().parse().unwrap_or(-1),
        };
        Ok((get("real"), get("ours")))
    } else {
        Err(format!(
            "the scenario's setup failed ({:?}): {setup}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    };
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`compare`], but each tool gets its own fresh namespace with the same setup: for
/// tools that change state (`ipcrm`, `ipcmk`). `after` runs after the tool in each (e.g.
/// `ipcs -a` to show the effect) and its output is appended to stdout after a marker line.
pub fn compare_separately(tool: &str, setup: &str, args: &[&str], after: &str) -> (Run, Run) {
    let one = |bin: &str| {
        let dir = std::env::temp_dir().join(format!(
            "shmkit-compat-{}-{:x}",
            std::process::id(),
            rand_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        let script = format!(
            "{path}{PRELUDE}\n{setup}\nset +e\n(exec -a {tool} {bin} {args}) > {d}/out 2> {d}/err\necho $? > {d}/rc\nset -e\necho '--- after' >> {d}/out\n{after} >> {d}/out 2>&1\n",
            path = python_path_line(),
            bin = shell_quote(bin),
            args = quoted.join(" "),
            d = dir.display()
        );
        let status = Command::new("unshare")
            .args(["--ipc", "bash", "-c", &script])
            .status()
            .expect("running unshare");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            status.success(),
            "the scenario's setup failed: {setup}\n{}",
            read("err")
        );
        let run = Run {
            stdout: read("out"),
            stderr: read("err"),
            status: read("rc").trim().parse().unwrap_or(-1),
        };
        let _ = std::fs::remove_dir_all(&dir);
        run
    };
    let real = one(&format!("/usr/bin/{tool}"));
    let ours = one(ours(tool).to_str().unwrap());
    (real, ours)
}

/// Asserts that both runs are identical, with a readable diff of the first difference.
pub fn assert_same(what: &str, real: &Run, ours: &Run) {
    for (field, a, b) in [
        ("stdout", &real.stdout, &ours.stdout),
        ("stderr", &real.stderr, &ours.stderr),
    ] {
        if a != b {
            let (la, lb): (Vec<&str>, Vec<&str>) = (
                a.split_inclusive('\n').collect(),
                b.split_inclusive('\n').collect(),
            );
            let i = la
                .iter()
                .zip(&lb)
                .position(|(x, y)| x != y)
                .unwrap_or(la.len().min(lb.len()));
            panic!(
                "{what}: {field} differs at line {}\n  util-linux: {:?}\n  shmkit:     {:?}\n--- util-linux {field} ---\n{a}--- shmkit {field} ---\n{b}",
                i + 1,
                la.get(i),
                lb.get(i)
            );
        }
    }
    assert_eq!(
        real.status, ours.status,
        "{what}: exit status differs\nstderr: {}",
        real.stderr
    );
}

/// Runs one scenario and asserts identical results; returns the real run for extra checks.
pub fn same(tool: &str, setup: &str, args: &[&str]) -> Run {
    let (real, ours) = compare(tool, setup, args, &[]);
    assert_same(&format!("{tool} {args:?} after `{setup}`"), &real, &ours);
    real
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn rand_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.finish()
}
