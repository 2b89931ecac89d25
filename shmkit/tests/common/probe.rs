//! Typed probes: another process (this test binary, run again) that does one operation for
//! a test, as a peer.
//!
//! A probe family is an enum declared with [`probe_enum!`], one variant per operation, its
//! fields the operation's parameters. The parent builds a value and starts it with
//! [`spawn_probe`] or [`run_probe`]; the value travels as command-line arguments (the
//! family's name, the variant's name, then each field through [`Arg`]: one argument per
//! number, key, string or unit variant). The child is the binary's ignored test `probe`,
//! declared in the test file as
//!
//! ```ignore
//! #[test]
//! #[ignore = "helper: run by the other tests as a child process"]
//! fn probe() {
//!     common::probe::serve::<Family>();
//! }
//! ```
//!
//! which decodes the arguments back into the enum and runs [`Probe::run`]: an exhaustive
//! `match`, one small function per variant. The child answers on stdout with lines
//! `PROBE: <reply>` ([`say`] for text; [`say_reply`] and `reply`/`next_reply` for a typed
//! value encoded with the same [`Arg`] codec, fields separated by tabs). A probe that takes
//! requests while it runs reads them typed from stdin ([`requests`]; the parent sends them
//! with [`RunningProbe::request`]).
//!
//! The arguments follow libtest's own options after `--`, where libtest takes them as
//! extra name filters: with `--exact --ignored` they can only select ignored tests whose
//! name they equal, and the only ignored test of a binary that serves probes is its entry
//! (`probe`; `soak_child` in `hostile_soak.rs`, which spawns through [`child_args`]).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::fmt::Display;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The name of the ignored test that serves probes in every test binary that uses them.
pub const ENTRY: &str = "probe";

/// A value that travels as command-line arguments (one or more per value).
pub trait Arg: Sized {
    /// Appends this value's arguments.
    fn put(&self, out: &mut Vec<String>);
    /// Takes this value's arguments from the front of `args`.
    fn take(args: &mut Args<'_>) -> Result<Self, String>;
}

/// The arguments not yet decoded.
pub struct Args<'a>(std::slice::Iter<'a, String>);

impl<'a> Args<'a> {
    pub fn new(args: &'a [String]) -> Args<'a> {
        Args(args.iter())
    }

    /// The next argument, or an error naming what was missing.
    pub fn next_arg(&mut self, what: &str) -> Result<&'a str, String> {
        self.0
            .next()
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument: {what}"))
    }

    /// Fails unless every argument was used.
    pub fn finish(mut self) -> Result<(), String> {
        match self.0.next() {
            None => Ok(()),
            Some(extra) => Err(format!("unexpected argument {extra:?}")),
        }
    }
}

/// Encodes a value into its arguments.
pub fn encode(value: &impl Arg) -> Vec<String> {
    let mut out = Vec::new();
    value.put(&mut out);
    out
}

/// Decodes a value from exactly `args`.
pub fn decode<T: Arg>(args: &[String]) -> Result<T, String> {
    let mut rest = Args::new(args);
    let value = T::take(&mut rest)?;
    rest.finish()?;
    Ok(value)
}

/// Numbers, keys and paths: one argument each, through `Display` and `FromStr`.
macro_rules! arg_via_str {
    ($($ty:ty),* $(,)?) => {$(
        impl Arg for $ty {
            fn put(&self, out: &mut Vec<String>) {
                out.push(self.to_string());
            }
            fn take(args: &mut Args<'_>) -> Result<Self, String> {
                let text = args.next_arg(stringify!($ty))?;
                text.parse()
                    .map_err(|e| format!("{} {text:?}: {e}", stringify!($ty)))
            }
        }
    )*};
}

arg_via_str!(
    bool,
    u8,
    u16,
    u32,
    u64,
    usize,
    i16,
    i32,
    i64,
    String,
    shmkit::Key
);

impl Arg for PathBuf {
    fn put(&self, out: &mut Vec<String>) {
        out.push(self.to_str().expect("a UTF-8 path").to_owned());
    }
    fn take(args: &mut Args<'_>) -> Result<Self, String> {
        args.next_arg("path").map(PathBuf::from)
    }
}

/// A segment id: its raw value.
impl Arg for shmkit::ShmId {
    fn put(&self, out: &mut Vec<String>) {
        self.raw().put(out);
    }
    fn take(args: &mut Args<'_>) -> Result<Self, String> {
        i32::take(args).map(shmkit::ShmId::from_raw)
    }
}

/// `None`, or `Some` and the value.
impl<T: Arg> Arg for Option<T> {
    fn put(&self, out: &mut Vec<String>) {
        match self {
            None => out.push("None".into()),
            Some(value) => {
                out.push("Some".into());
                value.put(out);
            }
        }
    }
    fn take(args: &mut Args<'_>) -> Result<Self, String> {
        match args.next_arg("option")? {
            "None" => Ok(None),
            "Some" => T::take(args).map(Some),
            other => Err(format!("expected None or Some, got {other:?}")),
        }
    }
}

/// A list: its length, then its items.
impl<T: Arg> Arg for Vec<T> {
    fn put(&self, out: &mut Vec<String>) {
        self.len().put(out);
        for item in self {
            item.put(out);
        }
    }
    fn take(args: &mut Args<'_>) -> Result<Self, String> {
        let len = usize::take(args)?;
        (0..len).map(|_| T::take(args)).collect()
    }
}

impl<A: Arg, B: Arg> Arg for (A, B) {
    fn put(&self, out: &mut Vec<String>) {
        self.0.put(out);
        self.1.put(out);
    }
    fn take(args: &mut Args<'_>) -> Result<Self, String> {
        Ok((A::take(args)?, B::take(args)?))
    }
}

/// How a channel endpoint waits: `Poll`, `Block`, or `Adaptive` and its spin count.
impl Arg for shmkit::channel::Wait {
    fn put(&self, out: &mut Vec<String>) {
        use shmkit::channel::Wait;
        match *self {
            Wait::Poll => out.push("Poll".into()),
            Wait::Block => out.push("Block".into()),
            Wait::Adaptive { spins } => {
                out.push("Adaptive".into());
                spins.put(out);
            }
        }
    }
    fn take(args: &mut Args<'_>) -> Result<Self, String> {
        use shmkit::channel::Wait;
        match args.next_arg("wait mode")? {
            "Poll" => Ok(Wait::Poll),
            "Block" => Ok(Wait::Block),
            "Adaptive" => Ok(Wait::Adaptive {
                spins: Arg::take(args)?,
            }),
            other => Err(format!("unknown wait mode {other:?}")),
        }
    }
}

/// Declares an enum whose values travel as arguments: the variant's name, then each field
/// in order (see [`Arg`]). Variants are unit-like or have named fields.
macro_rules! probe_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $({
                    $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
                })?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant $({ $( $(#[$fmeta])* $field: $ty ),* })?
            ),*
        }

        impl $crate::common::probe::Arg for $name {
            fn put(&self, out: &mut Vec<String>) {
                match self {
                    $(
                        Self::$variant $({ $($field),* })? => {
                            out.push(stringify!($variant).to_owned());
                            $($( $crate::common::probe::Arg::put($field, out); )*)?
                        }
                    )*
                }
            }

            fn take(
                args: &mut $crate::common::probe::Args<'_>,
            ) -> Result<Self, String> {
                let variant = args.next_arg(stringify!($name))?;
                $(
                    if variant == stringify!($variant) {
                        return Ok(Self::$variant $({
                            $( $field: <$ty as $crate::common::probe::Arg>::take(args)? ),*
                        })?);
                    }
                )*
                Err(format!("{} has no variant {variant:?}", stringify!($name)))
            }
        }
    };
}
pub(crate) use probe_enum;

/// A family of operations a probe process can do.
pub trait Probe: Arg + std::fmt::Debug {
    /// The family's name: the first argument, so that a binary refuses another family's
    /// probe by name instead of misreading it.
    const FAMILY: &'static str;

    /// Does the operation, answering with `PROBE:` lines ([`say`], [`say_reply`]).
    fn run(self);
}

/// The child's side: if this process was started for a probe of family `P`, decodes it,
/// runs it and returns true; returns false (doing nothing) when started without a probe,
/// or for another family. Panics (failing the child) on arguments it cannot decode.
pub fn serve<P: Probe>() -> bool {
    let argv: Vec<String> = std::env::args().collect();
    let Some(at) = argv.iter().position(|a| a == "--") else {
        return false;
    };
    let rest = &argv[at + 1..];
    if rest.first().map(String::as_str) != Some(P::FAMILY) {
        return false;
    }
    let probe: P = decode(&rest[1..])
        .unwrap_or_else(|e| panic!("decoding a {} probe from {rest:?}: {e}", P::FAMILY));
    probe.run();
    true
}

/// Prints one reply line, `PROBE: <line>`, and flushes it (the parent may be waiting).
pub fn say(line: impl Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "PROBE: {line}");
    let _ = out.flush();
}

/// A typed value as one line of text: its arguments, separated by tabs.
pub fn encode_line(value: &impl Arg) -> String {
    let args = encode(value);
    assert!(
        args.iter().all(|a| !a.contains(['\t', '\n'])),
        "an argument holds a tab or a newline: {args:?}"
    );
    args.join("\t")
}

/// Decodes a line written by [`encode_line`].
pub fn decode_line<T: Arg>(line: &str) -> Result<T, String> {
    let args: Vec<String> = line.split('\t').map(str::to_owned).collect();
    decode(&args)
}

/// Prints a typed reply (see [`encode_line`]).
pub fn say_reply(reply: &impl Arg) {
    say(encode_line(reply));
}

/// Decodes a typed reply line (see [`say_reply`]).
pub fn parse_reply<T: Arg>(line: &str) -> T {
    decode_line(line).unwrap_or_else(|e| panic!("a probe replied {line:?}: {e}"))
}

/// The child's side of [`RunningProbe::request`]: the requests on stdin, one a line, until
/// it closes.
pub fn requests<T: Arg>() -> impl Iterator<Item = T> {
    std::io::stdin().lines().map(|line| {
        let line = line.expect("reading a request");
        decode_line(&line).unwrap_or_else(|e| panic!("a request {line:?}: {e}"))
    })
}

/// A copy of the running test binary in a world-readable directory, so that a child
/// dropped to `nobody` can execute it wherever the build directory is.
fn probe_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let path = super::process_dir("probe").join("probe");
        std::fs::copy(std::env::current_exe().unwrap(), &path).expect("copying the test binary");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    })
}

/// How to run a probe.
#[derive(Default, Clone, Copy)]
pub struct ProbeOptions {
    /// Run as this uid and gid (and no supplementary groups).
    pub as_user: Option<u32>,
    /// Set RLIMIT_MEMLOCK to 0 first.
    pub no_memlock: bool,
    /// Run inside a new IPC namespace (`unshare --ipc`).
    pub new_ipc_namespace: bool,
    /// Run inside a new pid namespace (`unshare --pid --fork`).
    pub new_pid_namespace: bool,
}

/// The outcome of a probe run to its end: the line it printed after `PROBE:` (or its
/// death).
#[derive(Debug)]
pub struct ProbeResult {
    pub line: Option<String>,
    pub output: Output,
}

impl ProbeResult {
    /// The reply line; panics with the probe's output when it printed none.
    pub fn result(&self) -> &str {
        self.line.as_deref().unwrap_or_else(|| {
            panic!(
                "the probe printed no result; status {:?}\nstdout:\n{}\nstderr:\n{}",
                self.output.status,
                String::from_utf8_lossy(&self.output.stdout),
                String::from_utf8_lossy(&self.output.stderr)
            )
        })
    }

    /// The reply, typed (see [`say_reply`]).
    pub fn reply<T: Arg>(&self) -> T {
        parse_reply(self.result())
    }

    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.output.status.signal()
    }
}

/// A probe running in the background, whose reply lines can be awaited.
pub struct RunningProbe {
    pub child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl RunningProbe {
    /// Reads stdout until a line containing `PROBE: ` and returns what follows it.
    pub fn next_result(&mut self) -> String {
        for line in self.lines.by_ref() {
            let line = line.expect("reading the probe's output");
            if let Some((_, rest)) = line.split_once("PROBE: ") {
                return rest.to_owned();
            }
        }
        panic!("the probe ended without printing a result");
    }

    /// The next reply, typed (see [`say_reply`]).
    pub fn next_reply<T: Arg>(&mut self) -> T {
        parse_reply(&self.next_result())
    }

    /// Sends a typed request (a line on the probe's stdin, see [`requests`]) and returns
    /// the next result line.
    pub fn request(&mut self, request: &impl Arg) -> String {
        let stdin = self.child.stdin.as_mut().expect("the probe's stdin");
        writeln!(stdin, "{}", encode_line(request)).expect("writing a request");
        stdin.flush().expect("writing a request");
        self.next_result()
    }

    /// Kills the probe with SIGKILL and reaps it.
    pub fn kill(mut self) -> std::process::ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("waiting for the probe")
    }

    /// Waits for the probe to end and returns its last result line.
    pub fn finish(mut self) -> String {
        let result = self.next_result();
        let _ = self.child.wait();
        result
    }

    /// Waits for the probe to end and returns its last reply, typed.
    pub fn finish_reply<T: Arg>(self) -> T {
        parse_reply(&self.finish())
    }
}

impl Drop for RunningProbe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `probe` in a new process (see [`run_probe`]) and returns at once; its stdin and
/// stdout are pipes.
pub fn spawn_probe<P: Probe>(probe: &P, opts: ProbeOptions) -> RunningProbe {
    let mut cmd = probe_command(probe, opts);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    // ETXTBSY and EAGAIN are transient (another thread forking while a file is open for
    // writing; a momentary process limit): try again a bounded number of times.
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(child) => break child,
            Err(e)
                if tries < 200
                    && matches!(e.raw_os_error(), Some(libc::ETXTBSY | libc::EAGAIN)) =>
            {
                tries += 1;
                std::thread::yield_now();
            }
            Err(e) => panic!("spawning the probe {probe:?}: {e}"),
        }
    };
    let stdout = child.stdout.take().unwrap();
    use std::io::BufRead;
    RunningProbe {
        child,
        lines: std::io::BufReader::new(stdout).lines(),
    }
}

/// Runs `probe` in a new process to its end: this test binary's ignored `probe` test,
/// which serves `P`'s family (see the module docs).
pub fn run_probe<P: Probe>(probe: &P, opts: ProbeOptions) -> ProbeResult {
    let output = probe_command(probe, opts)
        .output()
        .unwrap_or_else(|e| panic!("spawning the probe {probe:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("PROBE: ").map(|(_, rest)| rest))
        .map(str::to_owned);
    ProbeResult { line, output }
}

/// The test binary's arguments that run the ignored test `entry` alone, then `--`, the
/// family and the encoded value (see the module docs).
pub fn child_args<P: Probe>(entry: &str, probe: &P) -> Vec<String> {
    let mut args: Vec<String> = [
        "--ignored",
        "--exact",
        entry,
        "--nocapture",
        "--test-threads=1",
        "--",
        P::FAMILY,
    ]
    .map(str::to_owned)
    .into();
    args.extend(encode(probe));
    args
}

/// The command that runs `probe` as `opts` says.
pub fn probe_command<P: Probe>(probe: &P, opts: ProbeOptions) -> Command {
    let bin = probe_binary();
    let mut cmd = if opts.new_ipc_namespace || opts.new_pid_namespace {
        let mut c = Command::new("unshare");
        if opts.new_ipc_namespace {
            c.arg("--ipc");
        }
        if opts.new_pid_namespace {
            c.args(["--pid", "--fork"]);
        }
        c.arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(child_args(ENTRY, probe));
    if let Some(uid) = opts.as_user {
        cmd.uid(uid).gid(uid);
    }
    if opts.no_memlock {
        // SAFETY: setrlimit is async-signal-safe; the closure touches no shared state.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd
}
