//! lsipc's options (`longopts[]`, the mutually exclusive groups, `ctl`), read as
//! upstream's `main` reads them, and `--help`.

use super::super::common::{each_option, Exit, Flow, Tool};
use super::super::getopt::{HasArg, LongOpt};
use super::columns::*;

// Long-only options (`CHAR_MAX + 1` onwards, as upstream numbers them).
const OPT_NOTRUNC: i32 = 128;
const OPT_NOHEAD: i32 = 129;
const OPT_TIME_FMT: i32 = 130;

const LONG_OPTS: &[LongOpt] = &[
    LongOpt::new("bytes", HasArg::No, b'b' as i32),
    LongOpt::new("creator", HasArg::No, b'c' as i32),
    LongOpt::new("export", HasArg::No, b'e' as i32),
    LongOpt::new("global", HasArg::No, b'g' as i32),
    LongOpt::new("help", HasArg::No, b'h' as i32),
    LongOpt::new("id", HasArg::Required, b'i' as i32),
    LongOpt::new("json", HasArg::No, b'J' as i32),
    LongOpt::new("list", HasArg::No, b'l' as i32),
    LongOpt::new("newline", HasArg::No, b'n' as i32),
    LongOpt::new("noheadings", HasArg::No, OPT_NOHEAD),
    LongOpt::new("notruncate", HasArg::No, OPT_NOTRUNC),
    LongOpt::new("numeric-perms", HasArg::No, b'P' as i32),
    LongOpt::new("output", HasArg::Required, b'o' as i32),
    LongOpt::new("queues", HasArg::No, b'q' as i32),
    LongOpt::new("raw", HasArg::No, b'r' as i32),
    LongOpt::new("semaphores", HasArg::No, b's' as i32),
    LongOpt::new("shmems", HasArg::No, b'm' as i32),
    LongOpt::new("time", HasArg::No, b't' as i32),
    LongOpt::new("time-format", HasArg::Required, OPT_TIME_FMT),
    LongOpt::new("version", HasArg::No, b'V' as i32),
    LongOpt::new("shell", HasArg::No, b'y' as i32),
];

/// Upstream's mutually exclusive groups, "in ASCII order" except that the third row is
/// not, which keeps `-c` out of every check (see [`exclusive`]).
const EXCLUSIVE: [&[u8]; 4] = [b"Jelnr", b"gi", b"cot", b"mqs"];

/// The output mode (`ctl->outmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutMode {
    Export,
    Newline,
    Raw,
    Json,
    Pretty,
    List,
}

/// How times are shown (`--time-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimeMode {
    Short,
    Full,
    Iso,
}

/// Everything the options decide.
#[derive(Debug, Default)]
pub(super) struct Control {
    pub(super) outmode: Option<OutMode>,
    pub(super) noheadings: bool,
    pub(super) notrunc: bool,
    pub(super) shellvar: bool,
    pub(super) bytes: bool,
    pub(super) numperms: bool,
    pub(super) time_mode: Option<TimeMode>,
    pub(super) msg: bool,
    pub(super) shm: bool,
    pub(super) sem: bool,
    pub(super) global: bool,
    pub(super) show_time: bool,
    pub(super) show_creat: bool,
    pub(super) outarg: Option<String>,
    pub(super) columns: Vec<usize>,
    /// The range of resource columns `-o` accepts (`LOWER`, `UPPER`).
    pub(super) range: (usize, usize),
}

/// Reads the options in `args` (`args[0]` is the name `lsipc` was invoked by) as upstream's
/// `main` does before it builds the table: the control, the `--id` given (-1 for none),
/// and how times are shown. `--help`, `--version` and every error end the program.
pub(super) fn parse(tool: &mut Tool, args: Vec<String>) -> Flow<(Control, i32, TimeMode)> {
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
    Ok((ctl, id, time_mode))
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
