//! `ipcs`, as util-linux 2.38.1 behaves (see the project's `shared/docs/util-linux.md`).
//!
//! The lists ([`super::lists`]) come from `/proc/sysvipc/*` through
//! `shmkit::info::*_from_proc`, or, where that cannot be read, from the `*_STAT` syscalls
//! with util-linux's fallback quirks (the shm and sem creator group shown as the creator
//! user). Limits and usage come from the
//! kernel's `IPC_INFO`/`*_INFO` through `shmkit::info`.

use super::common::{alt_octal, ctime, each_option, human_size, key_hex, Exit, Flow, Tool};
use super::getopt::{HasArg, LongOpt};
use super::lists::{queues, segments, semaphore_sets};
use crate::names::{group_or_number, user_or_number};
use shmkit::info;
use shmkit::SemaphoreSet;

/// `getopt_long`'s value for `--human` (util-linux's `OPT_HUMAN`, `CHAR_MAX + 1`).
const OPT_HUMAN: i32 = 128;

/// The long options, in util-linux's table order (the order of ambiguity messages).
const LONG: &[LongOpt] = &[
    LongOpt::new("id", HasArg::Required, 'i' as i32),
    LongOpt::new("queues", HasArg::No, 'q' as i32),
    LongOpt::new("shmems", HasArg::No, 'm' as i32),
    LongOpt::new("semaphores", HasArg::No, 's' as i32),
    LongOpt::new("all", HasArg::No, 'a' as i32),
    LongOpt::new("time", HasArg::No, 't' as i32),
    LongOpt::new("pid", HasArg::No, 'p' as i32),
    LongOpt::new("creator", HasArg::No, 'c' as i32),
    LongOpt::new("limits", HasArg::No, 'l' as i32),
    LongOpt::new("summary", HasArg::No, 'u' as i32),
    LongOpt::new("human", HasArg::No, OPT_HUMAN),
    LongOpt::new("bytes", HasArg::No, 'b' as i32),
    LongOpt::new("version", HasArg::No, 'V' as i32),
    LongOpt::new("help", HasArg::No, 'h' as i32),
];

/// The output format (`-t/-p/-c/-l/-u`; the last one given wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Keys, owners, modes and sizes.
    Default,
    /// `-l`: the kernel's limits.
    Limits,
    /// `-u`: the kernel's usage counters.
    Status,
    /// `-c`: creators and owners.
    Creator,
    /// `-t`: times.
    Time,
    /// `-p`: pids.
    Pid,
}

/// The size unit (`ipc_print_size`'s `IPC_UNIT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// No `--human` or `-b`: bytes, except where a listing picks another default.
    Default,
    /// `-b`: bytes, labelled `(bytes)`.
    Bytes,
    /// Kibibytes, labelled `(kbytes)` (the default of `-l`'s max seg size).
    Kb,
    /// `--human`: `size_to_human_string`.
    Human,
}

/// Runs `ipcs` with `args` (`args[0]` is the name it was invoked by).
pub(crate) fn main(tool: &mut Tool, args: Vec<String>) -> Flow {
    let (mut msg, mut shm, mut sem) = (false, false, false);
    let mut id: Option<i32> = None;
    let mut format = Format::Default;
    let mut unit = Unit::Default;

    let getopt = tool.getopt(args, "i:qmsatpclubVh", LONG);
    each_option(tool, getopt, |tool, opt, arg| {
        if opt == OPT_HUMAN {
            unit = Unit::Human;
            return Ok(());
        }
        match u32::try_from(opt).ok().and_then(char::from_u32) {
            Some('i') => {
                let text = arg.unwrap_or_default();
                id = Some(tool.s32(&text, "failed to parse id argument")?);
            }
            Some('a') => (msg, shm, sem) = (true, true, true),
            Some('q') => msg = true,
            Some('m') => shm = true,
            Some('s') => sem = true,
            Some('t') => format = Format::Time,
            Some('c') => format = Format::Creator,
            Some('p') => format = Format::Pid,
            Some('l') => format = Format::Limits,
            Some('u') => format = Format::Status,
            Some('b') => unit = Unit::Bytes,
            Some('h') => return Err(usage(tool)),
            Some('V') => return Err(tool.version()),
            _ => return Err(tool.try_help()),
        }
        Ok(())
    })?;

    if let Some(id) = id {
        if u8::from(msg) + u8::from(shm) + u8::from(sem) != 1 {
            return Err(tool.errx("when using an ID, a single resource must be specified"));
        }
        if msg {
            print_msg(tool, id, unit);
        }
        if shm {
            print_shm(tool, id, unit);
        }
        if sem {
            print_sem(tool, id)?;
        }
        return Ok(());
    }

    if !msg && !shm && !sem {
        (msg, shm, sem) = (true, true, true);
    }
    tool.print("\n");
    if msg {
        do_msg(tool, format, unit);
        tool.print("\n");
    }
    if shm {
        do_shm(tool, format, unit);
        tool.print("\n");
    }
    if sem {
        do_sem(tool, format);
        tool.print("\n");
    }
    Ok(())
}

/// `-h`: shmkit's own usage text on stdout, status 0.
fn usage(tool: &mut Tool) -> Exit {
    let name = tool.name.clone();
    tool.print(&format!(
        "
Usage:
 {name} [resource-option...] [output-option]
 {name} -m|-q|-s -i <id>

Show information on System V IPC facilities (shmkit's {name}, compatible with util-linux).

Options:
 -i, --id <id>  print details on resource identified by <id>
 -h, --help     display this help
 -V, --version  display version

Resource options:
 -m, --shmems      shared memory segments
 -q, --queues      message queues
 -s, --semaphores  semaphores
 -a, --all         all (default)

Output options:
 -t, --time        show attach, detach and change times
 -p, --pid         show PIDs of creator and last operator
 -c, --creator     show creator and owner
 -l, --limits      show resource limits
 -u, --summary     show status summary
     --human       show sizes in human-readable format
 -b, --bytes       show sizes in bytes
"
    ));
    Exit(0)
}

// ---------------------------------------------------------------------------------------
// Data: the lists (`super::lists`: /proc first, the syscalls as util-linux's fallback).

/// util-linux's lookup of one id: the first row with that id; with a negative id (which
/// util-linux takes as "all"), the first row of the list.
fn pick<T>(rows: Vec<T>, id: i32, id_of: impl Fn(&T) -> i32) -> Option<T> {
    if id < 0 {
        rows.into_iter().next()
    } else {
        rows.into_iter().find(|r| id_of(r) == id)
    }
}

// ---------------------------------------------------------------------------------------
// Formatting helpers (printf's widths count bytes).

/// `%-Ns`.
fn left(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(text.len())))
}

/// `%Ns`.
fn right(text: &str, width: usize) -> String {
    format!("{}{text}", " ".repeat(width.saturating_sub(text.len())))
}

/// `%.Ns`: at most `max` bytes (at a character boundary).
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The owner column of the listings: `%-10.10s` of the user name, or `%-10u` of the uid.
fn owner(uid: u32) -> String {
    left(cut(&user_or_number(uid), 10), 10)
}

/// `%-20.16s` of `ctime(t) + 4`, or of `Not set` for 0.
fn t16(t: i64) -> String {
    if t == 0 {
        left("Not set", 20)
    } else {
        let full = ctime(t);
        left(cut(full.get(4..).unwrap_or(""), 16), 20)
    }
}

/// `%-26.24s` of `ctime(t)`.
fn t24_always(t: i64) -> String {
    left(cut(&ctime(t), 24), 26)
}

/// `%-26.24s` of `ctime(t)`, or of `Not set` for 0.
fn t24(t: i64) -> String {
    if t == 0 {
        left("Not set", 26)
    } else {
        t24_always(t)
    }
}

/// util-linux's `ipc_print_size(unit, label, size, end, width)`: the label (`LABEL=` as
/// is, else `LABEL (bytes) = `, `LABEL (kbytes) = ` or `LABEL = `), the value in the unit
/// (`width` > 0 right-justifies, < 0 left-justifies), then `end`.
fn print_size(unit: Unit, label: Option<&str>, size: u64, end: &str, width: i32) -> String {
    let mut out = String::new();
    match label {
        None => {}
        Some(l) if l.ends_with('=') => out.push_str(l),
        Some(l) => out.push_str(&match unit {
            Unit::Bytes => format!("{l} (bytes) = "),
            Unit::Kb => format!("{l} (kbytes) = "),
            Unit::Default | Unit::Human => format!("{l} = "),
        }),
    }
    let value = match unit {
        Unit::Default | Unit::Bytes => size.to_string(),
        Unit::Kb => (size / 1024).to_string(),
        Unit::Human => human_size(size),
    };
    let w = width.unsigned_abs() as usize;
    out.push_str(&if width < 0 {
        left(&value, w)
    } else {
        right(&value, w)
    });
    out.push_str(end);
    out
}

/// `ipc_print_perms`: id, perms, then creator and owner names, never cut.
fn perms_row(id: i32, mode: u32, cuid: u32, cgid: u32, uid: u32, gid: u32) -> String {
    format!(
        "{} {} {} {} {} {}\n",
        left(&id.to_string(), 10),
        left(&format!("{:o}", mode & 0o777), 10),
        left(&user_or_number(cuid), 10),
        left(&group_or_number(cgid), 10),
        left(&user_or_number(uid), 10),
        left(&group_or_number(gid), 10),
    )
}

/// A header of left-justified column names joined by single spaces.
fn header(columns: &[(&str, usize)]) -> String {
    let cols: Vec<String> = columns.iter().map(|&(c, w)| left(c, w)).collect();
    format!("{}\n", cols.join(" "))
}

// ---------------------------------------------------------------------------------------
// Listings.

/// The message-queue block of a listing (title, header, rows; or limits, or usage).
fn do_msg(tool: &mut Tool, format: Format, unit: Unit) {
    match format {
        Format::Limits => {
            let Ok(lim) = info::msg_limits() else {
                tool.print("unable to fetch message limits\n");
                return;
            };
            let unit = if unit == Unit::Default {
                Unit::Bytes
            } else {
                unit
            };
            let mut out = String::from("------ Messages Limits --------\n");
            out.push_str(&format!("max queues system wide = {}\n", lim.msgmni));
            out.push_str(&print_size(
                unit,
                Some("max size of message"),
                lim.msgmax,
                "\n",
                0,
            ));
            out.push_str(&print_size(
                unit,
                Some("default max size of queue"),
                lim.msgmnb,
                "\n",
                0,
            ));
            tool.print(&out);
            return;
        }
        Format::Status => {
            let Ok(usage) = info::msg_usage() else {
                tool.print("kernel not configured for message queues\n");
                return;
            };
            let mut out = String::from("------ Messages Status --------\n");
            out.push_str(&format!("allocated queues = {}\n", usage.queues));
            out.push_str(&format!("used headers = {}\n", usage.messages));
            let end = if unit == Unit::Default {
                " bytes\n"
            } else {
                "\n"
            };
            out.push_str(&print_size(unit, Some("used space"), usage.bytes, end, 0));
            tool.print(&out);
            return;
        }
        Format::Creator => {
            tool.print("------ Message Queues Creators/Owners --------\n");
            tool.print(&header(&[
                ("msqid", 10),
                ("perms", 10),
                ("cuid", 10),
                ("cgid", 10),
                ("uid", 10),
                ("gid", 10),
            ]));
        }
        Format::Time => {
            tool.print("------ Message Queues Send/Recv/Change Times --------\n");
            tool.print(&header(&[
                ("msqid", 8),
                ("owner", 10),
                ("send", 20),
                ("recv", 20),
                ("change", 20),
            ]));
        }
        Format::Pid => {
            tool.print("------ Message Queues PIDs --------\n");
            tool.print(&header(&[
                ("msqid", 10),
                ("owner", 10),
                ("lspid", 10),
                ("lrpid", 10),
            ]));
        }
        Format::Default => {
            tool.print("------ Message Queues --------\n");
            let size = if unit == Unit::Human {
                "size"
            } else {
                "used-bytes"
            };
            tool.print(&header(&[
                ("key", 10),
                ("msqid", 10),
                ("owner", 10),
                ("perms", 10),
                (size, 12),
                ("messages", 12),
            ]));
        }
    }

    let (rows, _) = queues();
    let mut out = String::new();
    for q in &rows {
        let id = q.id.raw();
        match format {
            Format::Creator => {
                out.push_str(&perms_row(id, q.mode, q.cuid, q.cgid, q.uid, q.gid));
            }
            Format::Time => out.push_str(&format!(
                "{} {} {} {} {}\n",
                left(&id.to_string(), 8),
                owner(q.uid),
                t16(q.stime),
                t16(q.rtime),
                t16(q.ctime)
            )),
            Format::Pid => out.push_str(&format!(
                "{} {}  {}     {}\n",
                left(&id.to_string(), 8),
                owner(q.uid),
                right(&q.lspid.to_string(), 5),
                right(&q.lrpid.to_string(), 5)
            )),
            _ => {
                let bytes = if unit == Unit::Human {
                    print_size(unit, None, q.cbytes, "      ", 6)
                } else {
                    print_size(unit, None, q.cbytes, "", -12)
                };
                out.push_str(&format!(
                    "{} {} {} {} {} {}\n",
                    key_hex(q.key),
                    left(&id.to_string(), 10),
                    owner(q.uid),
                    left(&format!("{:o}", q.mode & 0o777), 10),
                    bytes,
                    left(&q.qnum.to_string(), 12)
                ));
            }
        }
    }
    tool.print(&out);
}

/// The shared-memory block of a listing.
fn do_shm(tool: &mut Tool, format: Format, unit: Unit) {
    match format {
        Format::Limits => {
            let Ok(lim) = info::shm_limits() else {
                tool.print("unable to fetch shared memory limits\n");
                return;
            };
            const SHMMIN: u64 = 1;
            let pgsz = shmkit::info::page_size() as u64;
            let mut out = String::from("------ Shared Memory Limits --------\n");
            out.push_str(&format!("max number of segments = {}\n", lim.shmmni));
            let seg_unit = if unit == Unit::Default {
                Unit::Kb
            } else {
                unit
            };
            out.push_str(&print_size(
                seg_unit,
                Some("max seg size"),
                lim.shmmax,
                "\n",
                0,
            ));
            if matches!(unit, Unit::Kb | Unit::Default) {
                let k = pgsz / 1024;
                let total = lim
                    .shmall
                    .checked_mul(k)
                    .unwrap_or(u64::MAX - u64::MAX % k.max(1));
                out.push_str(&print_size(
                    Unit::Default,
                    Some("max total shared memory (kbytes)"),
                    total,
                    "\n",
                    0,
                ));
            } else {
                let total = lim
                    .shmall
                    .checked_mul(pgsz)
                    .unwrap_or(u64::MAX - u64::MAX % pgsz.max(1));
                out.push_str(&print_size(
                    unit,
                    Some("max total shared memory"),
                    total,
                    "\n",
                    0,
                ));
            }
            let min_unit = if unit == Unit::Default {
                Unit::Bytes
            } else {
                unit
            };
            out.push_str(&print_size(min_unit, Some("min seg size"), SHMMIN, "\n", 0));
            tool.print(&out);
            return;
        }
        Format::Status => {
            let Ok(u) = info::shm_usage() else {
                tool.print("kernel not configured for shared memory\n");
                return;
            };
            tool.print(&format!(
                "------ Shared Memory Status --------\n\
                 segments allocated {}\n\
                 pages allocated {}\n\
                 pages resident  {}\n\
                 pages swapped   {}\n\
                 Swap performance: {} attempts\t {} successes\n",
                u.segments,
                u.pages,
                u.resident_pages,
                u.swapped_pages,
                u.swap_attempts,
                u.swap_successes
            ));
            return;
        }
        Format::Creator => {
            tool.print("------ Shared Memory Segment Creators/Owners --------\n");
            tool.print(&header(&[
                ("shmid", 10),
                ("perms", 10),
                ("cuid", 10),
                ("cgid", 10),
                ("uid", 10),
                ("gid", 10),
            ]));
        }
        Format::Time => {
            tool.print("------ Shared Memory Attach/Detach/Change Times --------\n");
            tool.print(&header(&[
                ("shmid", 10),
                ("owner", 10),
                ("attached", 20),
                ("detached", 20),
                ("changed", 20),
            ]));
        }
        Format::Pid => {
            tool.print("------ Shared Memory Creator/Last-op PIDs --------\n");
            tool.print(&header(&[
                ("shmid", 10),
                ("owner", 10),
                ("cpid", 10),
                ("lpid", 10),
            ]));
        }
        Format::Default => {
            tool.print("------ Shared Memory Segments --------\n");
            let size = if unit == Unit::Human { "size" } else { "bytes" };
            tool.print(&header(&[
                ("key", 10),
                ("shmid", 10),
                ("owner", 10),
                ("perms", 10),
                (size, 10),
                ("nattch", 10),
                ("status", 12),
            ]));
        }
    }

    let mut out = String::new();
    for s in &segments() {
        let id = s.id.raw();
        match format {
            Format::Creator => {
                out.push_str(&perms_row(id, s.mode, s.cuid, s.cgid, s.uid, s.gid));
            }
            Format::Time => out.push_str(&format!(
                "{} {} {} {} {}\n",
                left(&id.to_string(), 10),
                owner(s.uid),
                t16(s.atime),
                t16(s.dtime),
                t16(s.ctime)
            )),
            Format::Pid => out.push_str(&format!(
                "{} {} {} {}\n",
                left(&id.to_string(), 10),
                owner(s.uid),
                left(&(s.cpid as u32).to_string(), 10),
                left(&(s.lpid as u32).to_string(), 10)
            )),
            _ => {
                let size = if unit == Unit::Human {
                    print_size(unit, None, s.size as u64, "    ", 6)
                } else {
                    print_size(unit, None, s.size as u64, "", -10)
                };
                out.push_str(&format!(
                    "{} {} {} {} {} {} {} {}\n",
                    key_hex(s.key),
                    left(&id.to_string(), 10),
                    owner(s.uid),
                    left(&format!("{:o}", s.mode & 0o777), 10),
                    size,
                    left(&s.nattch.to_string(), 10),
                    left(if s.dest { "dest" } else { " " }, 6),
                    left(if s.locked { "locked" } else { " " }, 6)
                ));
            }
        }
    }
    tool.print(&out);
}

/// The semaphore block of a listing (nothing at all with `-p`).
fn do_sem(tool: &mut Tool, format: Format) {
    match format {
        Format::Limits => {
            let Ok(lim) = info::sem_limits() else {
                tool.print("unable to fetch semaphore limits\n");
                return;
            };
            const SEMVMX: u32 = 32767;
            tool.print(&format!(
                "------ Semaphore Limits --------\n\
                 max number of arrays = {}\n\
                 max semaphores per array = {}\n\
                 max semaphores system wide = {}\n\
                 max ops per semop call = {}\n\
                 semaphore max value = {SEMVMX}\n",
                lim.semmni, lim.semmsl, lim.semmns, lim.semopm
            ));
            return;
        }
        Format::Status => {
            let Ok(u) = info::sem_usage() else {
                tool.print("kernel not configured for semaphores\n");
                return;
            };
            tool.print(&format!(
                "------ Semaphore Status --------\n\
                 used arrays = {}\n\
                 allocated semaphores = {}\n",
                u.sets, u.semaphores
            ));
            return;
        }
        Format::Creator => {
            tool.print("------ Semaphore Arrays Creators/Owners --------\n");
            tool.print(&header(&[
                ("semid", 10),
                ("perms", 10),
                ("cuid", 10),
                ("cgid", 10),
                ("uid", 10),
                ("gid", 10),
            ]));
        }
        Format::Time => {
            tool.print("------ Semaphore Operation/Change Times --------\n");
            tool.print(&header(&[
                ("semid", 8),
                ("owner", 10),
                ("last-op", 26),
                ("last-changed", 26),
            ]));
        }
        // No title, header or rows at all.
        Format::Pid => return,
        Format::Default => {
            tool.print("------ Semaphore Arrays --------\n");
            tool.print(&header(&[
                ("key", 10),
                ("semid", 10),
                ("owner", 10),
                ("perms", 10),
                ("nsems", 10),
            ]));
        }
    }

    let mut out = String::new();
    for s in &semaphore_sets() {
        let id = s.id.raw();
        match format {
            Format::Creator => {
                out.push_str(&perms_row(id, s.mode, s.cuid, s.cgid, s.uid, s.gid));
            }
            Format::Time => out.push_str(&format!(
                "{} {}  {} {}\n",
                left(&id.to_string(), 8),
                owner(s.uid),
                t24(s.otime),
                t24(s.ctime)
            )),
            _ => out.push_str(&format!(
                "{} {} {} {} {}\n",
                key_hex(s.key),
                left(&id.to_string(), 10),
                owner(s.uid),
                left(&format!("{:o}", s.mode & 0o777), 10),
                left(&s.nsems.to_string(), 10)
            )),
        }
    }
    tool.print(&out);
}

// ---------------------------------------------------------------------------------------
// Specific mode (`-i`).

/// `-m -i ID`; a missing id is a warning, status 0.
fn print_shm(tool: &mut Tool, id: i32, unit: Unit) {
    let Some(s) = pick(segments(), id, |s| s.id.raw()) else {
        tool.warnx(&format!("id {id} not found"));
        return;
    };
    let label = if unit == Unit::Human {
        "size="
    } else {
        "bytes="
    };
    let mode = s.raw_mode();
    tool.print(&format!(
        "\nShared memory Segment shmid={id}\n\
         uid={}\tgid={}\tcuid={}\tcgid={}\n\
         mode={}\taccess_perms={}\n\
         {}lpid={}\tcpid={}\tnattch={}\n\
         att_time={}\n\
         det_time={}\n\
         change_time={}\n\
         \n",
        s.uid,
        s.gid,
        s.cuid,
        s.cgid,
        alt_octal(mode),
        alt_octal(mode & 0o777),
        print_size(unit, Some(label), s.size as u64, "\t", 0),
        s.lpid as u32,
        s.cpid as u32,
        s.nattch,
        t24(s.atime),
        t24(s.dtime),
        t24_always(s.ctime)
    ));
}

/// `-q -i ID`.
fn print_msg(tool: &mut Tool, id: i32, unit: Unit) {
    let (rows, from_proc) = queues();
    let Some(q) = pick(rows, id, |q| q.id.raw()) else {
        tool.warnx(&format!("id {id} not found"));
        return;
    };
    // From /proc, util-linux asks IPC_STAT for msg_qbytes only for a real (positive) id.
    let qbytes = if from_proc && id < 0 { 0 } else { q.qbytes };
    let human = unit == Unit::Human;
    tool.print(&format!(
        "\nMessage Queue msqid={id}\n\
         uid={}\tgid={}\tcuid={}\tcgid={}\tmode={}\n\
         {}{}qnum={}\tlspid={}\tlrpid={}\n\
         send_time={}\n\
         rcv_time={}\n\
         change_time={}\n\
         \n",
        q.uid,
        q.gid,
        q.cuid,
        q.cgid,
        alt_octal(q.mode),
        print_size(
            unit,
            Some(if human { "csize=" } else { "cbytes=" }),
            q.cbytes,
            "\t",
            0
        ),
        print_size(
            unit,
            Some(if human { "qsize=" } else { "qbytes=" }),
            qbytes,
            "\t",
            0
        ),
        q.qnum,
        q.lspid,
        q.lrpid,
        t24(q.stime),
        t24(q.rtime),
        t24(q.ctime)
    ));
}

/// One semaphore's line of `-s -i`.
struct Element {
    value: u16,
    ncount: usize,
    zcount: usize,
    pid: i32,
}

/// `-s -i ID`, with each semaphore's value, waiters and last pid; a failing `semctl` ends
/// the tool (`semctl(GETVAL) failed: …`, status 1) before anything is printed.
fn print_sem(tool: &mut Tool, id: i32) -> Flow {
    // util-linux crashes (SIGSEGV) on a negative id when a set exists; shmkit shows the
    // first set instead, as it does for shm and msg.
    let Some(s) = pick(semaphore_sets(), id, |s| s.id.raw()) else {
        tool.warnx(&format!("id {id} not found"));
        return Ok(());
    };
    // Everything is fetched before anything is printed: a failure leaves stdout empty.
    let fail = |tool: &mut Tool, what: &str, e: shmkit::Error| {
        tool.err(
            &format!("semctl({what}) failed"),
            e.raw_os_error().unwrap_or(0),
        )
    };
    let mut elements = Vec::with_capacity(s.nsems);
    if s.nsems > 0 {
        // No IPC_STAT first: each semctl below fails (or not) on its own, as in C.
        let set = SemaphoreSet::from_id_unchecked(s.id);
        for i in 0..s.nsems {
            let num = i as u16;
            let value = set.value(num).map_err(|e| fail(tool, "GETVAL", e))?;
            let ncount = set
                .waiting_for_increase(num)
                .map_err(|e| fail(tool, "GETNCNT", e))?;
            let zcount = set
                .waiting_for_zero(num)
                .map_err(|e| fail(tool, "GETZCNT", e))?;
            let pid = set.last_pid(num).map_err(|e| fail(tool, "GETPID", e))?;
            elements.push(Element {
                value,
                ncount,
                zcount,
                pid,
            });
        }
    }
    let mut out = format!(
        "\nSemaphore Array semid={id}\n\
         uid={}\t gid={}\t cuid={}\t cgid={}\n\
         mode={}, access_perms={}\n\
         nsems = {}\n\
         otime = {}\n\
         ctime = {}\n",
        s.uid,
        s.gid,
        s.cuid,
        s.cgid,
        alt_octal(s.mode),
        alt_octal(s.mode & 0o777),
        s.nsems,
        t24(s.otime),
        t24_always(s.ctime)
    );
    out.push_str(&header(&[
        ("semnum", 10),
        ("value", 10),
        ("ncount", 10),
        ("zcount", 10),
        ("pid", 10),
    ]));
    for (i, e) in elements.iter().enumerate() {
        out.push_str(&format!(
            "{} {} {} {} {}\n",
            left(&i.to_string(), 10),
            left(&e.value.to_string(), 10),
            left(&e.ncount.to_string(), 10),
            left(&e.zcount.to_string(), 10),
            left(&e.pid.to_string(), 10)
        ));
    }
    out.push('\n');
    tool.print(&out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_size_follows_ipc_print_size() {
        assert_eq!(
            print_size(Unit::Kb, Some("max seg size"), 4096, "\n", 0),
            "max seg size (kbytes) = 4\n"
        );
        assert_eq!(
            print_size(Unit::Bytes, Some("x"), 5, "\n", 0),
            "x (bytes) = 5\n"
        );
        assert_eq!(print_size(Unit::Human, Some("x"), 1, "", 0), "x = 1B");
        assert_eq!(
            print_size(Unit::Default, Some("bytes="), 7, "\t", 0),
            "bytes=7\t"
        );
        assert_eq!(
            print_size(Unit::Human, None, 5000, "      ", 6),
            "  4.9K      "
        );
        assert_eq!(print_size(Unit::Default, None, 12, "", -10), "12        ");
    }

    #[test]
    fn widths_count_bytes_and_cuts_stay_on_characters() {
        assert_eq!(left("ab", 4), "ab  ");
        assert_eq!(right("ab", 4), "  ab");
        assert_eq!(cut("systemd-timesync", 10), "systemd-ti");
        assert_eq!(cut("ééééé", 5), "éé");
    }
}
