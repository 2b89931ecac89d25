//! lsipc's columns (`struct lsipc_coldesc` and `coldescs[]`): their ids, names, help and
//! labels, which resource each belongs to, and the column list of `--output`.

use super::super::common::{Exit, Flow, Tool};

// Column ids: indexes into `COLS`, in upstream's order (the order of "all columns").
pub(super) const COL_KEY: usize = 0;
pub(super) const COL_ID: usize = 1;
pub(super) const COL_OWNER: usize = 2;
pub(super) const COL_PERMS: usize = 3;
pub(super) const COL_CUID: usize = 4;
pub(super) const COL_CUSER: usize = 5;
pub(super) const COL_CGID: usize = 6;
pub(super) const COL_CGROUP: usize = 7;
pub(super) const COL_UID: usize = 8;
pub(super) const COL_USER: usize = 9;
pub(super) const COL_GID: usize = 10;
pub(super) const COL_GROUP: usize = 11;
pub(super) const COL_CTIME: usize = 12;
pub(super) const COL_USEDBYTES: usize = 13;
pub(super) const COL_MSGS: usize = 14;
pub(super) const COL_SEND: usize = 15;
pub(super) const COL_RECV: usize = 16;
pub(super) const COL_LSPID: usize = 17;
pub(super) const COL_LRPID: usize = 18;
pub(super) const COL_SIZE: usize = 19;
pub(super) const COL_NATTCH: usize = 20;
pub(super) const COL_STATUS: usize = 21;
pub(super) const COL_ATTACH: usize = 22;
pub(super) const COL_DETACH: usize = 23;
pub(super) const COL_COMMAND: usize = 24;
pub(super) const COL_CPID: usize = 25;
pub(super) const COL_LPID: usize = 26;
pub(super) const COL_NSEMS: usize = 27;
pub(super) const COL_OTIME: usize = 28;
pub(super) const COL_RESOURCE: usize = 29;
pub(super) const COL_DESC: usize = 30;
pub(super) const COL_LIMIT: usize = 31;
pub(super) const COL_USED: usize = 32;
pub(super) const COL_USEPERC: usize = 33;

pub(super) const MSG_RANGE: (usize, usize) = (COL_USEDBYTES, COL_LRPID);
pub(super) const SHM_RANGE: (usize, usize) = (COL_SIZE, COL_LPID);
pub(super) const SEM_RANGE: (usize, usize) = (COL_NSEMS, COL_OTIME);
pub(super) const SUM_RANGE: (usize, usize) = (COL_RESOURCE, COL_USEPERC);

/// A column's description (`struct lsipc_coldesc`).
pub(super) struct ColDesc {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) pretty: &'static str,
    pub(super) right: bool,
    pub(super) trunc: bool,
    pub(super) noextremes: bool,
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

pub(super) const COLS: [ColDesc; 34] = [
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
pub(super) const MAX_COLUMNS: usize = COLS.len() * 2;

/// `add_column`: appends a column, or fails once upstream's array would overflow.
pub(super) fn add_column(tool: &mut Tool, columns: &mut Vec<usize>, id: usize) -> Flow {
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
pub(super) fn apply_output_list(
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
