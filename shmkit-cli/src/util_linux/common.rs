//! What the four util-linux personalities share: the program's names, stdout buffered and
//! checked at exit, glibc's `warn`/`err` formats, the integer parsers, sizes and times.

use super::getopt::{Getopt, Item, LongOpt};
use std::io::Write;
use std::process::ExitCode;

/// The util-linux version the personalities reproduce.
pub(crate) const UTIL_LINUX_VERSION: &str = "2.38.1";

/// Ends a tool early with this exit status (what C's `exit()`/`err()` do). Raised with
/// [`Tool::errx`], [`Tool::err`], [`Tool::try_help`] and the like; [`run`] catches it,
/// flushes stdout and exits.
#[derive(Debug)]
pub(crate) struct Exit(pub(crate) u8);

/// A tool's result: `Err(Exit)` ends it with that status.
pub(crate) type Flow<T = ()> = Result<T, Exit>;

/// A running tool: its names and its stdout buffer.
#[derive(Debug)]
pub(crate) struct Tool {
    /// The basename of `argv[0]` (`program_invocation_short_name`): used by warnings,
    /// errors and the "Try …" hint.
    pub(crate) name: String,
    /// `argv[0]` verbatim: used by getopt's diagnostics.
    pub(crate) argv0: String,
    out: Vec<u8>,
    line_buffered: bool,
}

/// Runs a personality: `body` gets the tool and the arguments (lossily UTF-8, `args[0]`
/// included); stdout is written at the end (or line by line on a terminal) and a failed
/// write is reported as C's `close_stdout` does.
pub(crate) fn run(
    name: &str,
    argv0: &str,
    args: &[std::ffi::OsString],
    body: fn(&mut Tool, Vec<String>) -> Flow,
) -> ExitCode {
    shmkit_os::default_sigpipe();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut tool = Tool {
        name: name.to_owned(),
        argv0: argv0.to_owned(),
        out: Vec::new(),
        line_buffered: shmkit_os::is_terminal(1),
    };
    let status = match body(&mut tool, args) {
        Ok(()) => 0,
        Err(Exit(code)) => code,
    };
    ExitCode::from(tool.close_stdout(status))
}

impl Tool {
    /// Appends to stdout.
    pub(crate) fn print(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        if self.line_buffered && text.contains('\n') {
            self.flush_out();
        }
    }

    /// Writes what stdout holds now (C's `fflush(stdout)`); errors are reported at exit.
    pub(crate) fn flush_out(&mut self) {
        let mut stdout = std::io::stdout().lock();
        if stdout
            .write_all(&self.out)
            .and_then(|()| stdout.flush())
            .is_ok()
        {
            self.out.clear();
        }
    }

    /// Writes stdout and applies the write-error rule: `NAME: write error: <strerror>` and
    /// status 1 (EPIPE kills the process first, SIGPIPE being at its default).
    fn close_stdout(&mut self, status: u8) -> u8 {
        let mut stdout = std::io::stdout().lock();
        match stdout.write_all(&self.out).and_then(|()| stdout.flush()) {
            Ok(()) => status,
            Err(e) => {
                self.out.clear();
                let _ = writeln!(
                    std::io::stderr(),
                    "{}: write error: {}",
                    self.name,
                    strerror_of(&e)
                );
                1
            }
        }
    }

    /// `warnx`: `NAME: MESSAGE` on stderr. Stdout written so far goes first when it is a
    /// terminal (C line-buffers it there).
    pub(crate) fn warnx(&mut self, message: &str) {
        let _ = writeln!(std::io::stderr(), "{}: {message}", self.name);
    }

    /// `warn`: `NAME: MESSAGE: strerror(errno)` on stderr.
    pub(crate) fn warn(&mut self, message: &str, errno: i32) {
        let _ = writeln!(
            std::io::stderr(),
            "{}: {message}: {}",
            self.name,
            strerror(errno)
        );
    }

    /// `errx(1, …)`.
    pub(crate) fn errx(&mut self, message: &str) -> Exit {
        self.warnx(message);
        Exit(1)
    }

    /// `err(1, …)`.
    pub(crate) fn err(&mut self, message: &str, errno: i32) -> Exit {
        self.warn(message, errno);
        Exit(1)
    }

    /// `errtryhelp(EXIT_FAILURE)`: the "Try …" hint, status 1.
    pub(crate) fn try_help(&mut self) -> Exit {
        let _ = writeln!(
            std::io::stderr(),
            "Try '{} --help' for more information.",
            self.name
        );
        Exit(1)
    }

    /// A getopt diagnostic (prefixed with `argv[0]` already), then the hint: status 1.
    pub(crate) fn getopt_error(&mut self, line: &str) -> Exit {
        let _ = writeln!(std::io::stderr(), "{line}");
        self.try_help()
    }

    /// `-V`: `NAME from util-linux 2.38.1`, status 0.
    pub(crate) fn version(&mut self) -> Exit {
        let line = format!("{} from util-linux {UTIL_LINUX_VERSION}\n", self.name);
        self.print(&line);
        Exit(0)
    }

    /// A getopt parser over `args` for this tool.
    pub(crate) fn getopt<'a>(
        &self,
        args: Vec<String>,
        short: &'a str,
        long: &'a [LongOpt],
    ) -> Getopt<'a> {
        Getopt::new(args, short, long)
    }

    /// `strtos32_or_err(text, message)`.
    pub(crate) fn s32(&mut self, text: &str, message: &str) -> Flow<i32> {
        match parse_s32(text) {
            Ok(v) => Ok(v),
            Err(ParseError::Invalid) => Err(self.errx(&format!("{message}: '{text}'"))),
            Err(ParseError::Range) => Err(self.err(&format!("{message}: '{text}'"), libc_erange())),
        }
    }
}

/// Walks the options: calls `f` for each, turning getopt's diagnostics into the error
/// exit. Returns the operands.
pub(crate) fn each_option(
    tool: &mut Tool,
    mut getopt: Getopt<'_>,
    mut f: impl FnMut(&mut Tool, i32, Option<String>) -> Flow,
) -> Flow<Vec<String>> {
    while let Some(item) = getopt.next_item() {
        match item {
            Item::Opt(val, arg) => f(tool, val, arg)?,
            Item::Error(line) => return Err(tool.getopt_error(&line)),
        }
    }
    Ok(getopt.operands().to_vec())
}

/// Why a number did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Empty, no digits, or trailing characters (`errx`).
    Invalid,
    /// Out of range (`err` with ERANGE).
    Range,
}

const ERANGE: i32 = 34;

fn libc_erange() -> i32 {
    ERANGE
}

/// C's `strtoimax(text, &end, 10)` followed by util-linux's checks: leading whitespace, an
/// optional sign, decimal digits, nothing after; the value must fit an `i64`. As in C, an
/// overflow (ERANGE) is reported before trailing characters: `99999999999999999999abc` is
/// out of range, `99999999999abc` invalid.
pub(crate) fn parse_i64(text: &str) -> Result<i64, ParseError> {
    let t = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return Err(ParseError::Invalid);
    }
    let mut value: i128 = 0;
    for b in digits[..len].bytes() {
        value = value * 10 + i128::from(b - b'0');
        if value > i128::from(i64::MAX) + 1 {
            return Err(ParseError::Range);
        }
    }
    let value = if negative { -value } else { value };
    let value = i64::try_from(value).map_err(|_| ParseError::Range)?;
    if len != digits.len() {
        return Err(ParseError::Invalid);
    }
    Ok(value)
}

/// `strtos32_or_err` without the exit: [`parse_i64`], then the `i32` range.
pub(crate) fn parse_s32(text: &str) -> Result<i32, ParseError> {
    let v = parse_i64(text)?;
    i32::try_from(v).map_err(|_| ParseError::Range)
}

/// C's `strtoul(text, &end, base)` on a 64-bit `unsigned long`: leading whitespace, a sign
/// (a negative value wraps), `0x`/`0` prefixes for base 16/8 or base 0. Returns the value,
/// the number of bytes consumed (0 when no digits), and whether it overflowed (ERANGE).
pub(crate) fn strtoul(text: &str, base: u32) -> (u64, usize, bool) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut negative = false;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        negative = bytes[i] == b'-';
        i += 1;
    }
    let mut base = base;
    let hex_prefix = i + 1 < bytes.len()
        && bytes[i] == b'0'
        && (bytes[i + 1] | 0x20) == b'x'
        && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
    if (base == 0 || base == 16) && hex_prefix {
        i += 2;
        base = 16;
    } else if base == 0 {
        base = if bytes.get(i) == Some(&b'0') { 8 } else { 10 };
    }
    let start = i;
    let mut value: u64 = 0;
    let mut overflow = false;
    while i < bytes.len() {
        let Some(d) = (bytes[i] as char).to_digit(base) else {
            break;
        };
        match value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        // No digits: nothing consumed (a lone "0x" consumes the "0" only, handled above).
        return (0, 0, false);
    }
    if overflow {
        return (u64::MAX, i, true);
    }
    (
        if negative {
            value.wrapping_neg()
        } else {
            value
        },
        i,
        false,
    )
}

/// `size_to_human_string(SIZE_SUFFIX_1LETTER, bytes)`: `0B`, `1.5K`, `16E`.
pub(crate) fn human_size(bytes: u64) -> String {
    const SUFFIXES: [char; 7] = ['B', 'K', 'M', 'G', 'T', 'P', 'E'];
    let mut exp = 0u32; // power of 1024
    while exp < 6 && bytes >= 1u64 << (10 * (exp + 1)) {
        exp += 1;
    }
    let shift = 10 * exp;
    let mut dec = if shift == 0 { bytes } else { bytes >> shift };
    let mut frac = if shift == 0 {
        0
    } else {
        bytes & ((1u64 << shift) - 1)
    };
    if frac != 0 {
        // Thousandths, avoiding overflow for large units as util-linux does.
        frac = if frac >= u64::MAX / 1000 {
            ((frac / 1024) * 1000) >> (shift - 10)
        } else {
            (frac * 1000) >> shift
        };
        frac = (frac + 50) / 100;
        if frac == 10 {
            dec += 1;
            frac = 0;
        }
    }
    let suffix = SUFFIXES[exp as usize];
    if frac != 0 {
        format!("{dec}.{frac}{suffix}")
    } else {
        format!("{dec}{suffix}")
    }
}

/// C's `ctime()` text without the newline, in local time: `Sat Nov 28 04:32:17 2026`.
pub(crate) fn ctime(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match shmkit_os::local_time(secs) {
        Some(t) => format!(
            "{} {} {:2} {:02}:{:02}:{:02} {}",
            DAYS[t.weekday as usize % 7],
            MONTHS[(t.month as usize + 11) % 12],
            t.day,
            t.hour,
            t.minute,
            t.second,
            t.year
        ),
        None => "??? ??? ?? ??:??:?? ????".to_owned(),
    }
}

/// glibc's English `strerror(errno)` text (`Permission denied`), `Success` for 0.
pub(crate) fn strerror(errno: i32) -> String {
    if errno == 0 {
        return "Success".to_owned();
    }
    strerror_of(&std::io::Error::from_raw_os_error(errno))
}

fn strerror_of(e: &std::io::Error) -> String {
    let text = e.to_string();
    // std appends " (os error N)" to libc's strerror text.
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// `0x%08x` of a key.
pub(crate) fn key_hex(key: shmkit::Key) -> String {
    format!("0x{:08x}", key.raw() as u32)
}

/// C's `%#o`: a leading `0` unless the value is 0.
pub(crate) fn alt_octal(v: u32) -> String {
    if v == 0 {
        "0".to_owned()
    } else {
        format!("0{v:o}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_match_util_linux() {
        let cases: &[(u64, &str)] = &[
            (0, "0B"),
            (1, "1B"),
            (1023, "1023B"),
            (1024, "1K"),
            (1025, "1K"),
            (1536, "1.5K"),
            (1996, "1.9K"),
            (1997, "2K"),
            (5000, "4.9K"),
            (1048575, "1024K"),
            (1048576, "1M"),
            (1048577, "1M"),
            (2000000, "1.9M"),
            (1073741823, "1024M"),
            (8192, "8K"),
            (16384, "16K"),
            (18446744073692774399, "16E"),
        ];
        for &(v, s) in cases {
            assert_eq!(human_size(v), s, "{v}");
        }
    }

    #[test]
    fn s32_parser_matches_strtos32_or_err() {
        assert_eq!(parse_s32(" 12"), Ok(12));
        assert_eq!(parse_s32("+3"), Ok(3));
        assert_eq!(parse_s32("-7"), Ok(-7));
        for bad in ["", "abc", "1 ", "0x10", "-", " "] {
            assert_eq!(parse_s32(bad), Err(ParseError::Invalid), "{bad:?}");
        }
        assert_eq!(parse_s32("99999999999"), Err(ParseError::Range));
        assert_eq!(parse_s32("99999999999999999999999"), Err(ParseError::Range));
        assert_eq!(parse_s32("99999999999999999999abc"), Err(ParseError::Range));
        assert_eq!(parse_s32("   -99999999999"), Err(ParseError::Range));
        assert_eq!(parse_s32("99999999999abc"), Err(ParseError::Invalid));
        assert_eq!(parse_s32("9223372036854775808 "), Err(ParseError::Range));
        assert_eq!(parse_s32("-2147483648"), Ok(i32::MIN));
    }

    #[test]
    fn strtoul_matches_c() {
        assert_eq!(strtoul("99999999999", 10), (99999999999, 11, false));
        assert_eq!(strtoul("-5", 10), (5u64.wrapping_neg(), 2, false));
        assert_eq!(strtoul("0x1F", 16), (31, 4, false));
        assert_eq!(strtoul("0x1F", 0), (31, 4, false));
        assert_eq!(strtoul("017", 0), (15, 3, false));
        assert_eq!(strtoul("12ab", 10), (12, 2, false));
        assert_eq!(strtoul("", 10), (0, 0, false));
        assert!(strtoul("99999999999999999999999", 10).2);
    }

    #[test]
    fn alt_octal_is_percent_hash_o() {
        assert_eq!(alt_octal(0), "0");
        assert_eq!(alt_octal(0o1640), "01640");
    }
}
