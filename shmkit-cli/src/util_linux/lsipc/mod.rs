//! `lsipc`, as util-linux 2.38.1 behaves (see the project's `shared/docs/util-linux.md`,
//! §5): System V IPC objects or the system-wide limits as a libsmartcols table
//! ([`table`]), or one object in the "pretty" `Label: value` form with `--id`.

mod table;

use super::common::{self, each_option, Exit, Flow, Tool};
use super::getopt::{HasArg, LongOpt};
use crate::names;
use shmkit::os::LocalTime;
use shmkit::{MsgStat, SegmentStat, SemId, SemStat, SemaphoreSet};
use table::{Column, Format, Table};

// Column ids: indexes into `COLS`, in upstream's order (the order of "all columns").
const COL_KEY: usize = 0;
const COL_ID: usize = 1;
const COL_OWNER: usize = 2;
const COL_PERMS: usize = 3;
const COL_CUID: usize = 4;
const COL_CUSER: usize = 5;
const COL_CGID: usize = 6;
const COL_CGROUP: usize = 7;
const COL_UID: usize = 8;
const COL_USER: usize = 9;
const COL_GID: usize = 10;
const COL_GROUP: usize = 11;
const COL_CTIME: usize = 12;
const COL_USEDBYTES: usize = 13;
const COL_MSGS: usize = 14;
const COL_SEND: usize = 15;
const COL_RECV: usize = 16;
const COL_LSPID: usize = 17;
const COL_LRPID: usize = 18;
const COL_SIZE: usize = 19;
const COL_NATTCH: usize = 20;
const COL_STATUS: usize = 21;
const COL_ATTACH: usize = 22;
const COL_DETACH: usize = 23;
const COL_COMMAND: usize = 24;
const COL_CPID: usize = 25;
const COL_LPID: usize = 26;
const COL_NSEMS: usize = 27;
const COL_OTIME: usize = 28;
const COL_RESOURCE: usize = 29;
const COL_DESC: usize = 30;
const COL_LIMIT: usize = 31;
const COL_USED: usize = 32;
const COL_USEPERC: usize = 33;

const MSG_RANGE: (usize, usize) = (COL_USEDBYTES, COL_LRPID);
const SHM_RANGE: (usize, usize) = (COL_SIZE, COL_LPID);
const SEM_RANGE: (usize, usize) = (COL_NSEMS, COL_OTIME);
const SUM_RANGE: (usize, usize) = (COL_RESOURCE, COL_USEPERC);

/// A column's description (`struct lsipc_coldesc`).
struct ColDesc {
    name: &'static str,
    help: &'static str,
    pretty: &'static str,
    right: bool,
    trunc: bool,
    noextremes: bool,
}

const fn col(name: &'static str, help: &'static str, pretty: &'static str, right: bool) -> ColDesc {
    ColDesc {
        name,
        help,
        pretty,
        right,
        trunc: false,
        noextremes: false,
    }
}

const COLS: [ColDesc; 34] = [
    col("KEY", "Resource key", "Key", false),
    col("ID", "Resource ID", "ID", false),
    col("OWNER", "Owner's username or UID", "Owner", true),
    col("PERMS", "Permissions", "Permissions", true),
    col("CUID", "Creator UID", "Creator UID", true),
    col("CUSER", "Creator user", "Creator user", false),
    col("CGID", "Creator GID", "Creator GID", true),
    col("CGROUP", "Creator group", "Creator group", false),
    col("UID", "User ID", "UID", true),
    col("USER", "User name", "User name", false),
    col("GID", "Group ID", "GID", true),
    col("GROUP", "Group name", "Group name", false),
    col("CTIME", "Time of the last change", "Last change", true),
    col("USEDBYTES", "Bytes used", "Bytes used", true),
    col("MSGS", "Number of messages", "Messages", false),
    col("SEND", "Time of last msg sent", "Msg sent", true),
    col("RECV", "Time of last msg received", "Msg received", true),
    col("LSPID", "PID of the last msg sender", "Msg sender", true),
    col(
        "LRPID",
        "PID of the last msg receiver",
        "Msg receiver",
        true,
    ),
    col("SIZE", "Segment size", "Segment size", true),
    col(
        "NATTCH",
        "Number of attached processes",
        "Attached processes",
        true,
    ),
    ColDesc {
        noextremes: true,
        ..col("STATUS", "Status", "Status", false)
    },
    col("ATTACH", "Attach time", "Attach time", true),
    col("DETACH", "Detach time", "Detach time", true),
    ColDesc {
        trunc: true,
        ..col("COMMAND", "Creator command line", "Creator command", false)
    },
    col("CPID", "PID of the creator", "Creator PID", true),
    col("LPID", "PID of last user", "Last user PID", true),
    col("NSEMS", "Number of semaphores", "Semaphores", true),
    col(
        "OTIME",
        "Time of the last operation",
        "Last operation",
        true,
    ),
    col("RESOURCE", "Resource name", "Resource", false),
    col("DESCRIPTION", "Resource description", "Description", false),
    col("LIMIT", "System-wide limit", "Limit", true),
    col("USED", "Currently used", "Used", true),
    col("USE%", "Currently use percentage", "Use", true),
];

/// The size of upstream's `columns[]` array: twice the number of columns.
const MAX_COLUMNS: usize = COLS.len() * 2;

// Long-only options (`CHAR_MAX + 1` onwards, as upstream numbers them).
const OPT_NOTRUNC: i32 = 128;
const OPT_NOHEAD: i32 = 129;
const OPT_TIME_FMT: i32 = 130;

const fn opt(name: &'static str, has_arg: HasArg, val: i32) -> LongOpt {
    LongOpt { name, has_arg, val }
}

const LONG_OPTS: &[LongOpt] = &[
    opt("bytes", HasArg::No, b'b' as i32),
    opt("creator", HasArg::No, b'c' as i32),
    opt("export", HasArg::No, b'e' as i32),
    opt("global", HasArg::No, b'g' as i32),
    opt("help", HasArg::No, b'h' as i32),
    opt("id", HasArg::Required, b'i' as i32),
    opt("json", HasArg::No, b'J' as i32),
    opt("list", HasArg::No, b'l' as i32),
    opt("newline", HasArg::No, b'n' as i32),
    opt("noheadings", HasArg::No, OPT_NOHEAD),
    opt("notruncate", HasArg::No, OPT_NOTRUNC),
    opt("numeric-perms", HasArg::No, b'P' as i32),
    opt("output", HasArg::Required, b'o' as i32),
    opt("queues", HasArg::No, b'q' as i32),
    opt("raw", HasArg::No, b'r' as i32),
    opt("semaphores", HasArg::No, b's' as i32),
    opt("shmems", HasArg::No, b'm' as i32),
    opt("time", HasArg::No, b't' as i32),
    opt("time-format", HasArg::Required, OPT_TIME_FMT),
    opt("version", HasArg::No, b'V' as i32),
    opt("shell", HasArg::No, b'y' as i32),
];

/// Upstream's mutually exclusive groups, "in ASCII order" except that the third row is
/// not, which keeps `-c` out of every check (see [`exclusive`]).
const EXCLUSIVE: [&[u8]; 4] = [b"Jelnr", b"gi", b"cot", b"mqs"];

/// The output mode (`ctl->outmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutMode {
    Export,
    Newline,
    Raw,
    Json,
    Pretty,
    List,
}

/// How times are shown (`--time-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeMode {
    Short,
    Full,
    Iso,
}

/// Everything the options decide.
#[derive(Debug, Default)]
struct Control {
    outmode: Option<OutMode>,
    noheadings: bool,
    notrunc: bool,
    shellvar: bool,
    bytes: bool,
    numperms: bool,
    time_mode: Option<TimeMode>,
    msg: bool,
    shm: bool,
    sem: bool,
    global: bool,
    show_time: bool,
    show_creat: bool,
    outarg: Option<String>,
    columns: Vec<usize>,
    /// The range of resource columns `-o` accepts (`LOWER`, `UPPER`).
    range: (usize, usize),
}

/// Runs `lsipc` with `args` (`args[0]` is the name it was invoked by).
pub(crate) fn main(tool: &mut Tool, args: Vec<String>) -> Flow {
    let mut ctl = Control::default();
    let mut id: i32 = -1;
    let mut excl_status = [0i32; EXCLUSIVE.len()];
    let getopt = tool.getopt(args, "bceghi:Jlmno:PqrstVy", LONG_OPTS);
    each_option(tool, getopt, |tool, val, arg| {
        exclusive(tool, val, &mut excl_status)?;
        let arg = arg.unwrap_or_default();
        match u8::try_from(val).map(char::from).unwrap_or('\0') {
            'b' => ctl.bytes = true,
            'i' => id = tool.s32(&arg, "failed to parse IPC identifier")?,
            'e' => ctl.outmode = Some(OutMode::Export),
            'r' => ctl.outmode = Some(OutMode::Raw),
            'o' => ctl.outarg = Some(arg),
            'g' => ctl.global = true,
            'q' => {
                ctl.msg = true;
                for c in [
                    COL_KEY,
                    COL_ID,
                    COL_PERMS,
                    COL_OWNER,
                    COL_USEDBYTES,
                    COL_MSGS,
                    COL_LSPID,
                    COL_LRPID,
                ] {
                    add_column(tool, &mut ctl.columns, c)?;
                }
                ctl.range = MSG_RANGE;
            }
            'l' => ctl.outmode = Some(OutMode::List),
            'm' => {
                ctl.shm = true;
                for c in [
                    COL_KEY,
                    COL_ID,
                    COL_PERMS,
                    COL_OWNER,
                    COL_SIZE,
                    COL_NATTCH,
                    COL_STATUS,
                    COL_CTIME,
                    COL_CPID,
                    COL_LPID,
                    COL_COMMAND,
                ] {
                    add_column(tool, &mut ctl.columns, c)?;
                }
                ctl.range = SHM_RANGE;
            }
            'n' => ctl.outmode = Some(OutMode::Newline),
            'P' => ctl.numperms = true,
            's' => {
                ctl.sem = true;
                for c in [COL_KEY, COL_ID, COL_PERMS, COL_OWNER, COL_NSEMS] {
                    add_column(tool, &mut ctl.columns, c)?;
                }
                ctl.range = SEM_RANGE;
            }
            'J' => ctl.outmode = Some(OutMode::Json),
            't' => ctl.show_time = true,
            'c' => ctl.show_creat = true,
            'y' => ctl.shellvar = true,
            'h' => return Err(usage(tool)),
            'V' => return Err(tool.version()),
            _ if val == OPT_NOTRUNC => ctl.notrunc = true,
            _ if val == OPT_NOHEAD => ctl.noheadings = true,
            _ if val == OPT_TIME_FMT => {
                ctl.time_mode = Some(match arg.as_str() {
                    "iso" => TimeMode::Iso,
                    "full" => TimeMode::Full,
                    "short" => TimeMode::Short,
                    _ => return Err(tool.errx(&format!("unknown time format: {arg}"))),
                });
            }
            _ => return Err(tool.try_help()),
        }
        Ok(())
    })?;

    // The default is the summary of all three resources.
    if !(ctl.msg || ctl.shm || ctl.sem) {
        ctl.msg = true;
        ctl.shm = true;
        ctl.sem = true;
        ctl.global = true;
        if ctl.show_time || ctl.show_creat || id != -1 {
            return Err(tool.errx("--global is mutually exclusive with --creator, --id and --time"));
        }
    }
    if ctl.global {
        for c in [COL_RESOURCE, COL_DESC, COL_LIMIT, COL_USED, COL_USEPERC] {
            add_column(tool, &mut ctl.columns, c)?;
        }
        ctl.range = SUM_RANGE;
    }
    if id != -1 && ctl.outmode.is_none() {
        ctl.outmode = Some(OutMode::Pretty);
    }
    let pretty = ctl.outmode == Some(OutMode::Pretty);
    let time_mode = ctl.time_mode.unwrap_or(if pretty {
        TimeMode::Full
    } else {
        TimeMode::Short
    });

    if pretty && !(ctl.show_creat || ctl.show_time) {
        // All columns for `lsipc --<resource> --id <id>`.
        ctl.columns = (0..COLS.len()).collect();
    } else {
        if ctl.show_creat {
            for c in [COL_CUID, COL_CGID, COL_UID, COL_GID] {
                add_column(tool, &mut ctl.columns, c)?;
            }
        }
        if ctl.msg && ctl.show_time {
            for c in [COL_SEND, COL_RECV, COL_CTIME] {
                add_column(tool, &mut ctl.columns, c)?;
            }
        }
        if ctl.shm && ctl.show_time {
            // Keep COMMAND as the last column.
            let cmd = ctl.columns.last() == Some(&COL_COMMAND);
            if cmd {
                ctl.columns.pop();
            }
            add_column(tool, &mut ctl.columns, COL_ATTACH)?;
            add_column(tool, &mut ctl.columns, COL_DETACH)?;
            if cmd {
                add_column(tool, &mut ctl.columns, COL_COMMAND)?;
            }
        }
        if ctl.sem && ctl.show_time {
            add_column(tool, &mut ctl.columns, COL_OTIME)?;
            add_column(tool, &mut ctl.columns, COL_CTIME)?;
        }
    }
    if let Some(list) = ctl.outarg.take() {
        apply_output_list(tool, &list, &mut ctl.columns, ctl.range)?;
    }

    let mut table = new_table(&ctl, &ctl.columns);
    let mut cells = Cells::new(&ctl, time_mode);
    let mut elements: Option<Table> = None;
    if ctl.global {
        table.name = "ipclimits".to_owned();
    }
    if ctl.msg {
        if ctl.global {
            msg_global(&ctl, &mut table);
        } else {
            do_msg(tool, id, &ctl, &mut cells, &mut table);
        }
    }
    if ctl.shm {
        if ctl.global {
            shm_global(&ctl, &mut table);
        } else {
            do_shm(tool, id, &ctl, &mut cells, &mut table);
        }
    }
    if ctl.sem {
        if ctl.global {
            sem_global(&ctl, &mut table);
        } else {
            elements = do_sem(tool, id, &ctl, &mut cells, &mut table)?;
        }
    }

    if pretty {
        print_pretty(tool, &ctl.columns, &table, elements.as_ref());
    } else {
        let text = table.render();
        tool.print(&String::from_utf8_lossy(&text));
    }
    Ok(())
}

/// `err_exclusive_options`, with upstream's loop conditions: rows are visited while
/// their first option is not above `c`, and within a row options while they are not
/// above `c`. The `{c, o, t}` row comes after `{g, i}` although `c` < `g`, so `c` is never
/// reached, while `o` and `t` still are (and the message still names `--creator`).
fn exclusive(tool: &mut Tool, c: i32, status: &mut [i32]) -> Flow {
    for (e, row) in EXCLUSIVE.iter().enumerate() {
        if i32::from(row[0]) > c {
            break;
        }
        for &op in row.iter() {
            let op = i32::from(op);
            if op > c {
                break;
            }
            if op != c {
                continue;
            }
            if status[e] == 0 {
                status[e] = c;
            } else if status[e] != c {
                let names: String = row
                    .iter()
                    .map(|&o| {
                        let long = LONG_OPTS.iter().find(|l| l.val == i32::from(o));
                        match long {
                            Some(l) => format!(" --{}", l.name),
                            None => format!(" -{}", char::from(o)),
                        }
                    })
                    .collect();
                tool.warnx(&format!("mutually exclusive arguments:{names}"));
                return Err(Exit(1));
            }
            break;
        }
    }
    Ok(())
}

/// `add_column`: appends a column, or fails once upstream's array would overflow.
fn add_column(tool: &mut Tool, columns: &mut Vec<usize>, id: usize) -> Flow {
    if columns.len() >= MAX_COLUMNS {
        return Err(tool.errx(&format!(
            "too many columns specified, the limit is {} columns",
            MAX_COLUMNS - 1
        )));
    }
    columns.push(id);
    Ok(())
}

/// `string_add_to_idarray` with `column_name_to_id`: a leading `+` appends, otherwise
/// the list replaces the columns. Every failure exits with status 1; an unknown or
/// inapplicable name is reported with the rest of the list as typed.
fn apply_output_list(
    tool: &mut Tool,
    list: &str,
    columns: &mut Vec<usize>,
    range: (usize, usize),
) -> Flow {
    if list.is_empty() {
        return Err(Exit(1));
    }
    let body = match list.strip_prefix('+') {
        Some(rest) => rest,
        None => {
            columns.clear();
            list
        }
    };
    let room = MAX_COLUMNS - columns.len();
    if body.is_empty() || room == 0 {
        return Err(Exit(1));
    }
    let bytes = body.as_bytes();
    let mut begin: Option<usize> = None;
    let mut added = 0;
    let mut p = 0;
    while p < bytes.len() {
        if added >= room {
            return Err(Exit(1));
        }
        let start = *begin.get_or_insert(p);
        let mut end = None;
        if bytes[p] == b',' {
            end = Some(p);
        }
        if p + 1 == bytes.len() {
            end = Some(p + 1);
        }
        let Some(end) = end else {
            p += 1;
            continue;
        };
        if end <= start {
            return Err(Exit(1));
        }
        let name = &body[start..end];
        let found = COLS.iter().position(|c| c.name.eq_ignore_ascii_case(name));
        let rest = &body[start..];
        match found {
            Some(i) if i > COL_CTIME && !(range.0..=range.1).contains(&i) => {
                tool.warnx(&format!(
                    "column {rest} does not apply to the specified IPC"
                ));
                return Err(Exit(1));
            }
            Some(i) => {
                columns.push(i);
                added += 1;
            }
            None => {
                tool.warnx(&format!("unknown column: {rest}"));
                return Err(Exit(1));
            }
        }
        begin = None;
        if end == bytes.len() {
            break;
        }
        p += 1;
    }
    Ok(())
}

/// `setup_table`: the table for the chosen columns and output mode.
fn new_table(ctl: &Control, columns: &[usize]) -> Table {
    let cols = columns
        .iter()
        .map(|&c| {
            let d = &COLS[c];
            Column {
                name: d.name,
                right: d.right,
                trunc: d.trunc && !ctl.notrunc,
                noextremes: d.noextremes,
            }
        })
        .collect();
    let mut table = Table::new(cols);
    table.noheadings = ctl.noheadings;
    table.shellvar = ctl.shellvar;
    table.format = match ctl.outmode {
        Some(OutMode::Export) => Format::Export,
        Some(OutMode::Newline) => Format::Newline,
        Some(OutMode::Raw) => Format::Raw,
        Some(OutMode::Json) => Format::Json,
        Some(OutMode::Pretty) => {
            table.noheadings = true;
            Format::Human
        }
        Some(OutMode::List) | None => Format::Human,
    };
    if table.format == Format::Human {
        table.term_width = terminal_width();
    }
    table
}

/// The terminal's width when standard output is one, as util-linux's
/// `get_terminal_dimension` finds it: the terminal's own width (`TIOCGWINSZ`), else
/// `$COLUMNS` when it is a positive number, else 80.
fn terminal_width() -> Option<usize> {
    if !shmkit::os::is_terminal(1) {
        return None;
    }
    if let Some(w) = shmkit::os::terminal_width(1) {
        return Some(usize::from(w));
    }
    let env = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&w| w > 0);
    Some(env.unwrap_or(80))
}

/// `print_pretty`: one `Label: value` line per column that has data, then the elements
/// of a semaphore set.
fn print_pretty(tool: &mut Tool, columns: &[usize], table: &Table, elements: Option<&Table>) {
    let mut out: Vec<u8> = Vec::new();
    if let Some(row) = table.rows.first() {
        for (n, &c) in columns.iter().enumerate() {
            let Some(data) = &row[n] else {
                continue;
            };
            let label = COLS[c].pretty;
            let spaces = 35usize.saturating_sub(label.len()).max(1);
            out.extend_from_slice(label.as_bytes());
            out.push(b':');
            out.resize(out.len() + spaces, b' ');
            out.extend_from_slice(data);
            out.resize(out.len() + 36usize.saturating_sub(data.len()), b' ');
            out.push(b'\n');
        }
        if let Some(sub) = elements {
            out.extend_from_slice(b"Elements:\n\n");
            out.extend_from_slice(&sub.render());
        }
    }
    tool.print(&String::from_utf8_lossy(&out));
}

/// `lsipc --help` (shmkit's own text).
fn usage(tool: &mut Tool) -> Exit {
    let name = tool.name.clone();
    let mut text = format!(
        "
Usage:
 {name} [options]

Show information on System V IPC facilities (shmkit's lsipc, compatible with util-linux).

Resource options:
 -m, --shmems      shared memory segments
 -q, --queues      message queues
 -s, --semaphores  semaphores
 -g, --global      info about system-wide usage (may be used with -m, -q and -s)
 -i, --id <id>     print details on resource identified by <id>

Options:
     --noheadings         don't print headings
     --notruncate         don't truncate output
     --time-format=<type> display dates in short, full or iso format
 -b, --bytes              print SIZE in bytes rather than in human readable format
 -c, --creator            show creator and owner
 -e, --export             display in an export-able output format
 -J, --json               use the JSON output format
 -n, --newline            display each piece of information on a new line
 -l, --list               force list output format (for example with --id)
 -o, --output <list>      define the columns to output
 -P, --numeric-perms      print numeric permissions (PERMS column)
 -r, --raw                display in raw mode
 -t, --time               show attach, detach and change times
 -y, --shell              use column names to be usable as shell variable identifiers

 -h, --help               display this help
 -V, --version            display version
"
    );
    let groups: [(&str, usize, usize); 5] = [
        ("Generic columns", COL_KEY, COL_CTIME),
        ("Shared-memory columns (--shmems)", SHM_RANGE.0, SHM_RANGE.1),
        ("Message-queue columns (--queues)", MSG_RANGE.0, MSG_RANGE.1),
        ("Semaphore columns (--semaphores)", SEM_RANGE.0, SEM_RANGE.1),
        ("Summary columns (--global)", SUM_RANGE.0, SUM_RANGE.1),
    ];
    for (title, first, last) in groups {
        text.push_str(&format!("\n{title}:\n"));
        for d in &COLS[first..=last] {
            text.push_str(&format!(" {:>14}  {}\n", d.name, d.help));
        }
    }
    text.push_str("\nFor more details see lsipc(1).\n");
    tool.print(&text);
    Exit(0)
}

/// Formats cell values: names ([`crate::names`]), times, sizes, permissions.
struct Cells {
    bytes: bool,
    numperms: bool,
    time_mode: TimeMode,
    now: Option<Option<LocalTime>>,
}

impl Cells {
    fn new(ctl: &Control, time_mode: TimeMode) -> Cells {
        Cells {
            bytes: ctl.bytes,
            numperms: ctl.numperms,
            time_mode,
            now: None,
        }
    }

    /// A time cell: nothing for 0 ("never").
    fn time(&mut self, t: i64) -> Option<String> {
        (t != 0).then(|| self.make_time(t))
    }

    /// `make_time`.
    fn make_time(&mut self, t: i64) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        match self.time_mode {
            TimeMode::Full => common::ctime(t),
            TimeMode::Short => {
                let now = self
                    .now
                    .get_or_insert_with(|| shmkit::os::local_time(unix_now()))
                    .clone();
                let (Some(tm), Some(now)) = (shmkit::os::local_time(t), now) else {
                    return String::new();
                };
                let month = MONTHS[(tm.month as usize + 11) % 12];
                if tm.yearday == now.yearday && tm.year == now.year {
                    format!("{:02}:{:02}", tm.hour, tm.minute)
                } else if tm.year == now.year {
                    format!("{month}{:02}", tm.day)
                } else {
                    format!("{}-{month}{:02}", tm.year, tm.day)
                }
            }
            TimeMode::Iso => {
                let Some(tm) = shmkit::os::local_time(t) else {
                    return String::new();
                };
                let tmin = tm.utc_offset / 60;
                let (zhour, zmin) = (tmin / 60, (tmin % 60).abs());
                format!(
                    "{:4}-{:02}-{:02}T{:02}:{:02}:{:02}{zhour:+03}:{zmin:02}",
                    tm.year, tm.month, tm.day, tm.hour, tm.minute, tm.second
                )
            }
        }
    }

    /// A size: human-readable unless `--bytes`.
    fn size(&self, v: u64) -> String {
        if self.bytes {
            v.to_string()
        } else {
            common::human_size(v)
        }
    }

    /// `PERMS`: `rwxrwxrwx`, or `%#o` with `--numeric-perms`.
    fn perms(&self, mode: u32) -> String {
        let mode = mode & 0o777;
        if self.numperms {
            return common::alt_octal(mode);
        }
        let mut s = String::with_capacity(9);
        for shift in [6, 3, 0] {
            let bits = (mode >> shift) & 7;
            s.push(if bits & 4 != 0 { 'r' } else { '-' });
            s.push(if bits & 2 != 0 { 'w' } else { '-' });
            s.push(if bits & 1 != 0 { 'x' } else { '-' });
        }
        s
    }

    /// The columns every resource has. `cgid_shown` is what the CGID column shows
    /// (upstream shows the creator's uid there for segments and queues); `perms` is the
    /// PERMS cell (upstream leaves it empty for queues with `-P`).
    fn generic(&mut self, col: usize, g: &Generic) -> Option<String> {
        match col {
            COL_KEY => Some(format!("0x{:08x}", g.key as u32)),
            COL_ID => Some(g.id.to_string()),
            COL_OWNER => Some(names::user_or_number(g.uid)),
            COL_PERMS => g.perms.clone(),
            COL_CUID => Some(g.cuid.to_string()),
            COL_CUSER => names::user(g.cuid),
            COL_CGID => Some(g.cgid_shown.to_string()),
            COL_CGROUP => names::group(g.cgid),
            COL_UID => Some(g.uid.to_string()),
            COL_USER => names::user(g.uid),
            COL_GID => Some(g.gid.to_string()),
            COL_GROUP => names::group(g.gid),
            COL_CTIME => self.time(g.ctime),
            _ => None,
        }
    }
}

/// The fields every object has, as the cells use them.
struct Generic {
    key: i32,
    id: i32,
    uid: u32,
    gid: u32,
    cuid: u32,
    cgid: u32,
    cgid_shown: u32,
    perms: Option<String>,
    ctime: i64,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The command line of process `pid` as upstream's `proc_get_command` reads it: at most
/// 8192 bytes of `/proc/PID/cmdline` (through the library), NULs turned into spaces, the
/// last byte dropped; `None` when it cannot be read or is empty.
fn proc_command(pid: i32) -> Option<Vec<u8>> {
    let mut buf = shmkit::os::process_command_line(pid, 8192)?;
    if buf.is_empty() {
        return None;
    }
    for b in &mut buf {
        if *b == 0 {
            *b = b' ';
        }
    }
    buf.pop();
    Some(buf)
}

/// Fills one row: `cell` gives each column's value.
fn push_row(table: &mut Table, columns: &[usize], mut cell: impl FnMut(usize) -> Option<Vec<u8>>) {
    let row = columns.iter().map(|&c| cell(c)).collect();
    table.rows.push(row);
}

/// The objects to list: the first with `id` when `id` ≥ 0, otherwise all of them.
fn select<T>(all: Vec<T>, id: i32, id_of: impl Fn(&T) -> i32) -> Vec<T> {
    if id > -1 {
        all.into_iter().filter(|o| id_of(o) == id).take(1).collect()
    } else {
        all
    }
}

fn load_queues() -> Vec<MsgStat> {
    match shmkit::info::message_queues_from_proc() {
        Ok(Some(rows)) => rows,
        Ok(None) => shmkit::info::readable_message_queues_from_syscalls().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn load_segments() -> Vec<SegmentStat> {
    match shmkit::info::segments_from_proc() {
        Ok(Some(rows)) => rows,
        Ok(None) => {
            let mut rows = shmkit::info::readable_segments_from_syscalls().unwrap_or_default();
            // Upstream's fallback copies the creator's uid into the creator's gid.
            for s in &mut rows {
                s.cgid = s.cuid;
            }
            rows
        }
        Err(_) => Vec::new(),
    }
}

fn load_sets() -> Vec<SemStat> {
    match shmkit::info::semaphore_sets_from_proc() {
        Ok(Some(rows)) => rows,
        Ok(None) => {
            let mut rows =
                shmkit::info::readable_semaphore_sets_from_syscalls().unwrap_or_default();
            for s in &mut rows {
                s.cgid = s.cuid;
            }
            rows
        }
        Err(_) => Vec::new(),
    }
}

fn do_msg(tool: &mut Tool, id: i32, ctl: &Control, cells: &mut Cells, table: &mut Table) {
    let queues = select(load_queues(), id, |q| q.id.raw());
    if queues.is_empty() {
        if id > -1 {
            tool.warnx(&format!("id {id} not found"));
        }
        return;
    }
    table.name = "messages".to_owned();
    for q in &queues {
        let g = Generic {
            key: q.key.raw(),
            id: q.id.raw(),
            uid: q.uid,
            gid: q.gid,
            cuid: q.cuid,
            cgid: q.cgid,
            cgid_shown: q.cuid,
            perms: (!cells.numperms).then(|| cells.perms(q.mode)),
            ctime: q.ctime,
        };
        push_row(table, &ctl.columns, |c| {
            let v = match c {
                COL_USEDBYTES => Some(cells.size(q.cbytes)),
                COL_MSGS => Some(q.qnum.to_string()),
                COL_SEND => cells.time(q.stime),
                COL_RECV => cells.time(q.rtime),
                COL_LSPID => Some((q.lspid as u32).to_string()),
                COL_LRPID => Some((q.lrpid as u32).to_string()),
                _ => cells.generic(c, &g),
            };
            v.map(String::into_bytes)
        });
    }
}

fn do_shm(tool: &mut Tool, id: i32, ctl: &Control, cells: &mut Cells, table: &mut Table) {
    let segments = select(load_segments(), id, |s| s.id.raw());
    if segments.is_empty() {
        if id > -1 {
            tool.warnx(&format!("id {id} not found"));
        }
        return;
    }
    table.name = "sharedmemory".to_owned();
    for s in &segments {
        let g = Generic {
            key: s.key.raw(),
            id: s.id.raw(),
            uid: s.uid,
            gid: s.gid,
            cuid: s.cuid,
            cgid: s.cgid,
            cgid_shown: s.cuid,
            perms: Some(cells.perms(s.mode)),
            ctime: s.ctime,
        };
        push_row(table, &ctl.columns, |c| match c {
            COL_SIZE => Some(cells.size(s.size as u64).into_bytes()),
            COL_NATTCH => Some(s.nattch.to_string().into_bytes()),
            COL_STATUS => {
                let status = match (s.dest, s.locked) {
                    (true, true) => "dest,locked",
                    (true, false) => "dest",
                    (false, true) => "locked",
                    (false, false) => "",
                };
                Some(status.as_bytes().to_vec())
            }
            COL_ATTACH => cells.time(s.atime).map(String::into_bytes),
            COL_DETACH => cells.time(s.dtime).map(String::into_bytes),
            COL_CPID => Some((s.cpid as u32).to_string().into_bytes()),
            COL_LPID => Some((s.lpid as u32).to_string().into_bytes()),
            COL_COMMAND => proc_command(s.cpid),
            _ => cells.generic(c, &g).map(String::into_bytes),
        });
    }
}

/// One semaphore of a set, for the pretty "Elements" table.
struct Element {
    value: i32,
    ncount: usize,
    zcount: usize,
    pid: i32,
}

/// `get_sem_elements`: `GETVAL`, `GETNCNT`, `GETZCNT`, `GETPID` for each semaphore; the
/// first failure ends the program.
fn sem_elements(tool: &mut Tool, set: &SemStat) -> Flow<Vec<Element>> {
    let fail = |tool: &mut Tool, what: &str, e: &shmkit::Error| {
        tool.err(&format!("{what} failed"), e.raw_os_error().unwrap_or(0))
    };
    let handle = SemaphoreSet::from_id_unchecked(SemId::from_raw(set.id.raw()));
    let mut out = Vec::with_capacity(set.nsems);
    for i in 0..set.nsems {
        let num = u16::try_from(i).unwrap_or(u16::MAX);
        let value = handle
            .value(num)
            .map_err(|e| fail(tool, "semctl(GETVAL)", &e))?;
        let ncount = handle
            .waiting_for_increase(num)
            .map_err(|e| fail(tool, "semctl(GETNCNT)", &e))?;
        let zcount = handle
            .waiting_for_zero(num)
            .map_err(|e| fail(tool, "semctl(GETZCNT)", &e))?;
        let pid = handle
            .last_pid(num)
            .map_err(|e| fail(tool, "semctl(GETPID)", &e))?;
        out.push(Element {
            value: i32::from(value),
            ncount,
            zcount,
            pid,
        });
    }
    Ok(out)
}

/// Lists semaphore sets; with an id, also returns the "Elements" table of that set.
fn do_sem(
    tool: &mut Tool,
    id: i32,
    ctl: &Control,
    cells: &mut Cells,
    table: &mut Table,
) -> Flow<Option<Table>> {
    table.name = "semaphores".to_owned();
    let sets = select(load_sets(), id, |s| s.id.raw());
    let Some(first) = sets.first() else {
        if id > -1 {
            tool.warnx(&format!("id {id} not found"));
        }
        return Ok(None);
    };
    let elements = if id > -1 {
        Some(sem_elements(tool, first)?)
    } else {
        None
    };
    for s in &sets {
        let g = Generic {
            key: s.key.raw(),
            id: s.id.raw(),
            uid: s.uid,
            gid: s.gid,
            cuid: s.cuid,
            cgid: s.cgid,
            cgid_shown: s.cgid,
            perms: Some(cells.perms(s.mode)),
            ctime: s.ctime,
        };
        push_row(table, &ctl.columns, |c| {
            let v = match c {
                COL_NSEMS => Some(s.nsems.to_string()),
                COL_OTIME => cells.time(s.otime),
                _ => cells.generic(c, &g),
            };
            v.map(String::into_bytes)
        });
    }
    let Some(elements) = elements.filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let names = ["SEMNUM", "VALUE", "NCOUNT", "ZCOUNT", "PID", "COMMAND"];
    let mut sub = Table::new(
        names
            .iter()
            .map(|&name| Column {
                name,
                right: true,
                trunc: false,
                noextremes: false,
            })
            .collect(),
    );
    sub.shellvar = ctl.shellvar;
    sub.term_width = terminal_width();
    for (i, e) in elements.iter().enumerate() {
        sub.rows.push(vec![
            Some(i.to_string().into_bytes()),
            Some(e.value.to_string().into_bytes()),
            Some(e.ncount.to_string().into_bytes()),
            Some(e.zcount.to_string().into_bytes()),
            Some(e.pid.to_string().into_bytes()),
            proc_command(e.pid),
        ]);
    }
    Ok(Some(sub))
}

/// `global_set_data`: one summary row. `usage` is the used amount when the resource has
/// one; `byte_unit` makes the limit a human-readable size unless `--bytes`.
fn global_row(
    ctl: &Control,
    table: &mut Table,
    resource: &str,
    desc: &str,
    usage: Option<u64>,
    limit: u64,
    byte_unit: bool,
) {
    push_row(table, &ctl.columns, |c| {
        let v = match c {
            COL_RESOURCE => Some(resource.to_owned()),
            COL_DESC => Some(desc.to_owned()),
            COL_USED => Some(usage.map_or_else(|| "-".to_owned(), |u| u.to_string())),
            COL_USEPERC => Some(usage.map_or_else(|| "-".to_owned(), |u| percent(u, limit))),
            COL_LIMIT => Some(if byte_unit && !ctl.bytes {
                common::human_size(limit)
            } else {
                limit.to_string()
            }),
            _ => None,
        };
        v.map(String::into_bytes)
    });
}

/// `%2.2f%%` of `used / limit * 100` in double precision.
fn percent(used: u64, limit: u64) -> String {
    let v = used as f64 / limit as f64 * 100.0;
    if v.is_nan() {
        "-nan%".to_owned()
    } else if v.is_infinite() {
        "inf%".to_owned()
    } else {
        format!("{v:2.2}%")
    }
}

fn msg_global(ctl: &Control, table: &mut Table) {
    let (mni, max, mnb) = shmkit::info::msg_limits()
        .map(|l| (l.msgmni, l.msgmax, l.msgmnb))
        .unwrap_or_default();
    let queues = load_queues().len() as u64;
    global_row(
        ctl,
        table,
        "MSGMNI",
        "Number of message queues",
        Some(queues),
        mni,
        false,
    );
    global_row(
        ctl,
        table,
        "MSGMAX",
        "Max size of message (bytes)",
        None,
        max,
        true,
    );
    global_row(
        ctl,
        table,
        "MSGMNB",
        "Default max size of queue (bytes)",
        None,
        mnb,
        true,
    );
}

fn shm_global(ctl: &Control, table: &mut Table) {
    let (mni, all, max) = shmkit::info::shm_limits()
        .map(|l| (l.shmmni, l.shmall, l.shmmax))
        .unwrap_or_default();
    let segments = load_segments();
    let count = segments.len() as u64;
    let sum: u64 = segments
        .iter()
        .fold(0u64, |acc, s| acc.wrapping_add(s.size as u64));
    let page = (shmkit::os::page_size() as u64).max(1);
    global_row(
        ctl,
        table,
        "SHMMNI",
        "Shared memory segments",
        Some(count),
        mni,
        false,
    );
    global_row(
        ctl,
        table,
        "SHMALL",
        "Shared memory pages",
        Some(sum / page),
        all,
        false,
    );
    global_row(
        ctl,
        table,
        "SHMMAX",
        "Max size of shared memory segment (bytes)",
        None,
        max,
        true,
    );
    global_row(
        ctl,
        table,
        "SHMMIN",
        "Min size of shared memory segment (bytes)",
        None,
        1,
        true,
    );
}

fn sem_global(ctl: &Control, table: &mut Table) {
    let (mni, mns, msl, opm) = shmkit::info::sem_limits()
        .map(|l| (l.semmni, l.semmns, l.semmsl, l.semopm))
        .unwrap_or_default();
    let sets = load_sets();
    let nsets = sets.len() as u64;
    // Upstream adds the FIRST set's size once per set.
    let nsems = sets.first().map_or(0, |s| s.nsems as u64) * nsets;
    global_row(
        ctl,
        table,
        "SEMMNI",
        "Number of semaphore identifiers",
        Some(nsets),
        mni,
        false,
    );
    global_row(
        ctl,
        table,
        "SEMMNS",
        "Total number of semaphores",
        Some(nsems),
        mns,
        false,
    );
    global_row(
        ctl,
        table,
        "SEMMSL",
        "Max semaphores per semaphore set.",
        None,
        msl,
        false,
    );
    global_row(
        ctl,
        table,
        "SEMOPM",
        "Max number of operations per semop(2)",
        None,
        opm,
        false,
    );
    global_row(
        ctl,
        table,
        "SEMVMX",
        "Semaphore max value",
        None,
        32767,
        false,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(time_mode: TimeMode) -> Cells {
        let mut c = Cells::new(&Control::default(), time_mode);
        // "Now" is 2026-06-15 12:00 UTC; noon keeps the day for any zone within ±11 h.
        c.now = Some(shmkit::os::local_time(1_781_524_800));
        c
    }

    #[test]
    fn short_times_depend_on_today() {
        let mut c = cells(TimeMode::Short);
        let today = c.make_time(1_781_526_840);
        assert!(today.len() == 5 && today.as_bytes()[2] == b':', "{today}");
        assert_eq!(c.make_time(1_772_712_000), "Mar05");
        assert_eq!(c.make_time(1_577_793_600), "2019-Dec31");
        assert_eq!(c.time(0), None);
    }

    #[test]
    fn full_and_iso_times() {
        let full = cells(TimeMode::Full).make_time(1_577_793_600);
        assert!(
            full.starts_with("Tue Dec 31 ") && full.ends_with(" 2019"),
            "{full}"
        );
        let iso = cells(TimeMode::Iso).make_time(1_577_793_600);
        assert!(iso.starts_with("2019-12-31T") && iso.len() == 25, "{iso}");
        assert!(
            matches!(&iso[19..20], "+" | "-") && &iso[22..23] == ":",
            "{iso}"
        );
    }

    #[test]
    fn cell_helpers() {
        let mut c = cells(TimeMode::Short);
        assert_eq!(c.perms(0o1640), "rw-r-----");
        assert_eq!(c.perms(0o7), "------rwx");
        c.numperms = true;
        assert_eq!(c.perms(0o644), "0644");
        assert_eq!(c.perms(0), "0");
        assert_eq!(c.size(1536), "1.5K");
        c.bytes = true;
        assert_eq!(c.size(1536), "1536");
        assert_eq!(percent(2, 4096), "0.05%");
        assert_eq!(percent(0, 32000), "0.00%");
        assert_eq!(percent(3, 4), "75.00%");
    }
}
