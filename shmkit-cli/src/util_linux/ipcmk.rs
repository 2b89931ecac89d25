//! `ipcmk`, as util-linux 2.38.1 behaves (see the project's `shared/docs/util-linux.md`,
//! §4): `-M SIZE` (util-linux's `strtosize`), `-Q`, `-S N`, `-p MODE`; the objects are
//! made with random keys, shm first, then msg, then sem.

use super::common::{each_option, strtoul, Exit, Flow, Tool};
use super::getopt::{HasArg, LongOpt};
use shmkit::{HugePageSize, Key, MessageQueue, Segment, SemaphoreSet};

const EINVAL: i32 = 22;
const ERANGE: i32 = 34;

/// `IPC_EXCL`, `SHM_HUGETLB` and `SHM_NORESERVE`: bits of `-p`'s value that the kernel
/// reads as flags (`IPC_CREAT`, 0o1000, is passed anyway).
const IPC_EXCL: i32 = 0o2000;
const SHM_HUGETLB: i32 = 0o4000;
const SHM_NORESERVE: i32 = 0o10000;
/// Where `shmget` finds the log2 of the huge page size (with `SHM_HUGETLB`).
const SHM_HUGE_SHIFT: u32 = 26;

/// The long options, in util-linux's table order.
const LONG: &[LongOpt] = &[
    LongOpt::new("shmem", HasArg::Required, 'M' as i32),
    LongOpt::new("semaphore", HasArg::Required, 'S' as i32),
    LongOpt::new("queue", HasArg::No, 'Q' as i32),
    LongOpt::new("mode", HasArg::Required, 'p' as i32),
    LongOpt::new("version", HasArg::No, 'V' as i32),
    LongOpt::new("help", HasArg::No, 'h' as i32),
];

/// util-linux's `parse_size` (`strtosize`) on `mem`, which holds the argument's bytes,
/// its terminating NUL and the bytes that follow it in the process's memory: for a size
/// like `1.0` the C code reads past the end of the string (see [`following_bytes`]).
/// Returns the size or the errno.
fn parse_size(text: &str, mem: &[u8]) -> Result<u64, i32> {
    let at = |i: usize| mem.get(i).copied().unwrap_or(0);
    let len = text.len();
    if len == 0 {
        return Err(EINVAL);
    }
    let mut p = 0;
    while matches!(at(p), b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        p += 1;
    }
    if at(p) == b'-' {
        return Err(EINVAL);
    }
    let (mut x, consumed, overflow) = strtoul(text, 0);
    if consumed == 0 {
        return Err(EINVAL);
    }
    if overflow {
        return Err(ERANGE);
    }
    if consumed == len {
        return Ok(x);
    }
    let mut p = consumed;
    let mut base: u64 = 1024;
    let mut frac: u64 = 0;
    let mut frac_zeros = 0u32;
    loop {
        // check_suffix:
        if at(p + 1) == b'i' && matches!(at(p + 2), b'B' | b'b') && at(p + 3) == 0 {
            base = 1024;
        } else if matches!(at(p + 1), b'B' | b'b') && at(p + 2) == 0 {
            base = 1000;
        } else if at(p + 1) != 0 {
            // The locale's decimal point is "." in the C locales this system has.
            if frac == 0 && at(p) == b'.' {
                let mut q = p + 1;
                while at(q) == b'0' {
                    q += 1;
                    frac_zeros += 1;
                }
                let end = if at(q).is_ascii_digit() {
                    // strtoumax(fstr, 0): the zeros are skipped, so this is decimal.
                    let (value, used, overflow) = strtoul(&text[q..], 0);
                    if overflow {
                        return Err(ERANGE);
                    }
                    frac = value;
                    q + used
                } else {
                    q
                };
                if frac != 0 && at(end) == 0 {
                    return Err(EINVAL); // a fraction without a suffix
                }
                p = end;
                continue;
            }
            return Err(EINVAL);
        }
        break;
    }
    // strchr("KMGTPEZY", c) also finds the terminating NUL: power 9.
    const SUFFIXES: &[u8] = b"KMGTPEZY";
    const LOWER: &[u8] = b"kmgtpezy";
    let c = at(p);
    let power = if c == 0 {
        9
    } else if let Some(i) = SUFFIXES.iter().position(|&s| s == c) {
        i as u32 + 1
    } else if let Some(i) = LOWER.iter().position(|&s| s == c) {
        i as u32 + 1
    } else {
        return Err(EINVAL);
    };
    let in_range = scale_by_power(&mut x, base, power);
    if frac != 0 && power != 0 {
        let mut frac_base: u64 = 1;
        let _ = scale_by_power(&mut frac_base, base, power);
        let mut frac_div: u64 = 10;
        while frac_div < frac {
            if frac_div <= u64::MAX / 10 {
                frac_div *= 10;
            } else {
                frac /= 10;
            }
        }
        for _ in 0..frac_zeros {
            if frac_div <= u64::MAX / 10 {
                frac_div *= 10;
            } else {
                frac /= 10;
            }
        }
        let mut frac_poz: u64 = 1;
        loop {
            let seg = frac % 10;
            let seg_div = frac_div.checked_div(frac_poz).unwrap_or(0);
            frac /= 10;
            frac_poz = frac_poz.wrapping_mul(10);
            if seg != 0 && seg_div / seg != 0 {
                x = x.wrapping_add(frac_base / (seg_div / seg));
            }
            if frac == 0 {
                break;
            }
        }
    }
    if in_range {
        Ok(x)
    } else {
        Err(ERANGE)
    }
}

/// `do_scale_by_power`: `x *= base` `power` times, stopping (false) before an overflow.
fn scale_by_power(x: &mut u64, base: u64, power: u32) -> bool {
    for _ in 0..power {
        if u64::MAX / base < *x {
            return false;
        }
        *x *= base;
    }
    true
}

/// The bytes that follow the NUL of the `-M` argument in the process's memory, where C's
/// `parse_size` looks for a suffix after a fraction of zeros (`1.0`): the next words of
/// the command line (getopt permutes pointers, not the strings), then the environment.
/// `value` is the last `-M`'s argument; the word it came from is the last one that is the
/// value itself or ends with it (`-M1.0`, `--shmem=1.0`).
fn following_bytes(args: &[String], value: &str) -> Vec<u8> {
    let index = (1..args.len())
        .rev()
        .find(|&i| args[i] == value)
        .or_else(|| {
            (1..args.len())
                .rev()
                .find(|&i| args[i].starts_with('-') && args[i].ends_with(value))
        });
    let mut mem = Vec::new();
    let words = index.map_or(&[][..], |i| &args[i + 1..]);
    for word in words {
        mem.extend_from_slice(word.as_bytes());
        mem.push(0);
    }
    let mut env = std::env::vars_os().peekable();
    if env.peek().is_none() {
        mem.extend_from_slice(b"/\0"); // AT_EXECFN, a path
    }
    for (k, v) in env {
        mem.extend_from_slice(k.as_encoded_bytes());
        mem.push(b'=');
        mem.extend_from_slice(v.as_encoded_bytes());
        mem.push(0);
    }
    mem
}

/// A random key, as util-linux draws one for each object.
fn random_key() -> Key {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    Key::from_raw(h.finish() as i32)
}

/// The errno of a library error (EINVAL for the library's own argument checks, which the
/// values used here never trip).
fn errno_of(e: &shmkit::Error) -> i32 {
    e.raw_os_error().unwrap_or(EINVAL)
}

/// `shmget(random key, size, mode | IPC_CREAT)`: the id or the errno.
fn create_shm(size: u64, mode: i32) -> Result<i32, i32> {
    let mut builder = Segment::builder(random_key())
        .size(usize::try_from(size).map_err(|_| EINVAL)?)
        .mode((mode & 0o777) as u32);
    if mode & SHM_HUGETLB != 0 {
        let page = match (mode >> SHM_HUGE_SHIFT) & 0x3f {
            0 => HugePageSize::Default,
            21 => HugePageSize::Size2MiB,
            30 => HugePageSize::Size1GiB,
            // The kernel knows no other huge page size here.
            _ => return Err(EINVAL),
        };
        builder = builder.huge_pages(page);
    }
    if mode & SHM_NORESERVE != 0 {
        builder = builder.no_reserve();
    }
    let made = if mode & IPC_EXCL != 0 {
        builder.create()
    } else {
        builder.trust_existing().open_or_create()
    };
    made.map(|s| s.id().raw()).map_err(|e| errno_of(&e))
}

/// `msgget(random key, mode | IPC_CREAT)`.
fn create_msg(mode: i32) -> Result<i32, i32> {
    let builder = MessageQueue::builder(random_key()).mode((mode & 0o777) as u32);
    let made = if mode & IPC_EXCL != 0 {
        builder.create()
    } else {
        builder.trust_existing().open_or_create()
    };
    made.map(|q| q.id().raw()).map_err(|e| errno_of(&e))
}

/// `semget(random key, nsems, mode | IPC_CREAT)`.
fn create_sem(nsems: i32, mode: i32) -> Result<i32, i32> {
    // The kernel refuses a negative count before anything else.
    let count = usize::try_from(nsems).map_err(|_| EINVAL)?;
    let builder = SemaphoreSet::builder(random_key())
        .count(count)
        .mode((mode & 0o777) as u32);
    let made = if mode & IPC_EXCL != 0 {
        builder.create()
    } else {
        builder.trust_existing().open_or_create()
    };
    made.map(|s| s.id().raw()).map_err(|e| errno_of(&e))
}

fn usage(tool: &mut Tool) -> Exit {
    let name = tool.name.clone();
    tool.print(&format!(
        "\
Usage:
 {name} [options]

Create System V IPC objects with random keys and print their ids.

Options:
 -M, --shmem <size>       a shared memory segment of <size> bytes
                          (suffixes K, M, G, ... = KiB, MiB, GiB; KB, MB, ... = powers of 1000)
 -S, --semaphore <nsems>  a semaphore set of <nsems> semaphores
 -Q, --queue              a message queue
 -p, --mode <mode>        octal permissions for the new objects (default 0644)

 -h, --help               show this help and exit
 -V, --version            show the version and exit
"
    ));
    Exit(0)
}

/// Runs `ipcmk` with `args` (`args[0]` is the name it was invoked by).
pub(crate) fn main(tool: &mut Tool, args: Vec<String>) -> Flow {
    let mut mode: i32 = 0o644;
    let mut shm: Option<u64> = None;
    let mut sem: Option<i32> = None;
    let mut queue = false;
    let getopt = tool.getopt(args.clone(), "hM:QS:p:Vh", LONG);
    each_option(tool, getopt, |tool, c, arg| {
        let text = arg.as_deref().unwrap_or_default();
        match u8::try_from(c).map_or('\0', char::from) {
            'M' => {
                let mut mem = text.as_bytes().to_vec();
                mem.push(0);
                mem.extend(following_bytes(&args, text));
                match parse_size(text, &mem) {
                    Ok(size) => shm = Some(size),
                    Err(errno) => {
                        return Err(tool.err(&format!("failed to parse size: '{text}'"), errno))
                    }
                }
            }
            'Q' => queue = true,
            'S' => sem = Some(tool.s32(text, "failed to parse elements")?),
            'p' => {
                let (value, consumed, overflow) = strtoul(text, 8);
                if overflow {
                    return Err(tool.err("failed to parse mode", ERANGE));
                }
                if consumed == 0 || consumed != text.len() {
                    return Err(tool.err("failed to parse mode", 0));
                }
                mode = value as i32; // C: unsigned long into int
            }
            'h' => return Err(usage(tool)),
            'V' => return Err(tool.version()),
            _ => return Err(tool.try_help()),
        }
        Ok(())
    })?;
    if shm.is_none() && sem.is_none() && !queue {
        tool.warnx("bad usage");
        return Err(tool.try_help());
    }
    if let Some(size) = shm {
        match create_shm(size, mode) {
            Ok(id) => tool.print(&format!("Shared memory id: {id}\n")),
            Err(errno) => return Err(tool.err("create share memory failed", errno)),
        }
    }
    if queue {
        match create_msg(mode) {
            Ok(id) => tool.print(&format!("Message queue id: {id}\n")),
            Err(errno) => return Err(tool.err("create message queue failed", errno)),
        }
    }
    if let Some(nsems) = sem {
        match create_sem(nsems, mode) {
            Ok(id) => tool.print(&format!("Semaphore id: {id}\n")),
            Err(errno) => return Err(tool.err("create semaphore failed", errno)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(text: &str) -> Result<u64, i32> {
        let mut mem = text.as_bytes().to_vec();
        mem.extend_from_slice(b"\0-Q\0");
        parse_size(text, &mem)
    }

    #[test]
    fn sizes_match_strtosize() {
        let cases: &[(&str, Result<u64, i32>)] = &[
            ("1K", Ok(1024)),
            ("1k", Ok(1024)),
            ("1KiB", Ok(1024)),
            ("1kib", Ok(1024)),
            ("1KB", Ok(1000)),
            ("1kB", Ok(1000)),
            ("1Kb", Ok(1000)),
            ("1M", Ok(1048576)),
            ("0x100", Ok(256)),
            ("010", Ok(8)),
            ("0.5K", Ok(512)),
            ("1.5K", Ok(1536)),
            ("1.05K", Ok(1075)),
            ("1.005K", Ok(1029)),
            ("1.015K", Ok(1039)),
            ("0.25K", Ok(255)),
            ("1.123456789K", Ok(1149)),
            ("1.00.5K", Ok(1029)),
            ("1E", Ok(1 << 60)),
            ("16E", Err(ERANGE)),
            ("1.5", Err(EINVAL)),
            ("1.0", Err(EINVAL)),
            ("1.", Err(EINVAL)),
            ("abc", Err(EINVAL)),
            ("", Err(EINVAL)),
            (" -1", Err(EINVAL)),
            ("1Ki", Err(EINVAL)),
            ("1K2", Err(EINVAL)),
            ("0b1", Err(EINVAL)),
            ("99999999999999999999999", Err(ERANGE)),
        ];
        for (text, want) in cases {
            assert_eq!(size(text), *want, "{text:?}");
        }
    }

    #[test]
    fn a_fraction_of_zeros_reads_the_next_word() {
        let parse = |text: &str, next: &[u8]| {
            let mut mem = text.as_bytes().to_vec();
            mem.push(0);
            mem.extend_from_slice(next);
            parse_size(text, &mem)
        };
        assert_eq!(parse("1.0", b"\0"), Err(ERANGE));
        assert_eq!(parse("0.0", b"\0"), Ok(0));
        assert_eq!(parse("1.0", b"B\0"), Err(ERANGE));
        assert_eq!(parse("1.0", b"iB\0"), Err(ERANGE));
        assert_eq!(parse("1.0", b"iBx\0"), Err(EINVAL));
        assert_eq!(parse("1.0", b"-Q\0"), Err(EINVAL));
    }
}
