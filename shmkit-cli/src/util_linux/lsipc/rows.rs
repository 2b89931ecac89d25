//! The rows of `--queues`, `--shmems` and `--semaphores` (`do_msg`, `do_shm`, `do_sem`):
//! the objects as the library lists them, one row each, and the "Elements" of one set.

use super::super::common::{Flow, Tool};
use super::super::lists;
use super::args::Control;
use super::cells::{Cells, Generic};
use super::columns::*;
use super::output::terminal_width;
use super::table::{Column, Table};
use shmkit::{SemId, SemStat, SemaphoreSet};

/// The command line of process `pid` as upstream's `proc_get_command` reads it: at most
/// 8192 bytes of `/proc/PID/cmdline` (through the library), NULs turned into spaces, the
/// last byte dropped; `None` when it cannot be read or is empty.
fn proc_command(pid: i32) -> Option<Vec<u8>> {
    let mut buf = shmkit_os::process_command_line(pid, 8192)?;
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
pub(super) fn push_row(
    table: &mut Table,
    columns: &[usize],
    mut cell: impl FnMut(usize) -> Option<Vec<u8>>,
) {
    let row = columns.iter().map(|&c| cell(c)).collect();
    table.rows.push(row);
}

/// The objects to list: the first with `id` when `id` ≥ 0 (warning `id N not found` when
/// there is none), otherwise all of them.
fn select<T>(tool: &mut Tool, all: Vec<T>, id: i32, id_of: impl Fn(&T) -> i32) -> Vec<T> {
    if id < 0 {
        return all;
    }
    let found: Vec<T> = all.into_iter().filter(|o| id_of(o) == id).take(1).collect();
    if found.is_empty() {
        tool.warnx(&format!("id {id} not found"));
    }
    found
}

pub(super) fn do_msg(
    tool: &mut Tool,
    id: i32,
    ctl: &Control,
    cells: &mut Cells,
    table: &mut Table,
) {
    let queues = select(tool, lists::queues().0, id, |q| q.id.raw());
    if queues.is_empty() {
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

pub(super) fn do_shm(
    tool: &mut Tool,
    id: i32,
    ctl: &Control,
    cells: &mut Cells,
    table: &mut Table,
) {
    let segments = select(tool, lists::segments(), id, |s| s.id.raw());
    if segments.is_empty() {
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
pub(super) fn do_sem(
    tool: &mut Tool,
    id: i32,
    ctl: &Control,
    cells: &mut Cells,
    table: &mut Table,
) -> Flow<Option<Table>> {
    table.name = "semaphores".to_owned();
    let sets = select(tool, lists::semaphore_sets(), id, |s| s.id.raw());
    let Some(first) = sets.first() else {
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
