//! `shmkit limits`: the kernel's limits on each facility and how much of them is in use.
//!
//! Text: per kind a table `limit  value  in use  meaning`, named as the kernel names the
//! limits (`shmmax`, `semmsl`, `msgmnb`, ...).
//! JSON: `{"shm": {"limits": {...}, "usage": {...}, "page_size": N}, "sem": {"limits",
//! "usage"}, "msg": {"limits", "usage"}}` with only the kinds asked for, the field names
//! those of `shmkit::info`'s `*Limits` and `*Usage` structs.

use super::{Out, Result};
use crate::format::Table;
use crate::objects::{Kind, Kinds};
use serde_json::{json, Map, Value};
use shmkit::info;

/// Prints the limits and usage of `kinds`.
///
/// # Errors
/// The library's errors (none is expected on Linux); write errors.
pub(crate) fn run(out: &mut Out, kinds: Kinds, json: bool) -> Result<()> {
    let mut doc = Map::new();
    let mut lines = Vec::new();
    for kind in kinds.iter() {
        let (value, table, title) = match kind {
            Kind::Shm => shm()?,
            Kind::Sem => sem()?,
            Kind::Msg => msg()?,
        };
        doc.insert(kind.name().to_owned(), value);
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.push(title.to_owned());
        lines.extend(table.lines());
    }
    if json {
        return out.json(&Value::Object(doc), false);
    }
    for line in lines {
        out.line(line)?;
    }
    Ok(())
}

/// A table with the columns of every kind.
fn table() -> Table {
    Table::new(&["limit", "value", "in use", "meaning"])
}

/// One row.
fn row(table: &mut Table, limit: &str, value: u64, in_use: String, meaning: &str) {
    table.push(vec![
        limit.to_owned(),
        value.to_string(),
        in_use,
        meaning.to_owned(),
    ]);
}

/// Nothing in use to show for a limit.
fn none() -> String {
    "-".to_owned()
}

/// Shared memory.
fn shm() -> Result<(Value, Table, &'static str)> {
    let l = info::shm_limits()?;
    let u = info::shm_usage()?;
    let page_size = info::page_size();
    let value = json!({
        "limits": {
            "shmmax": l.shmmax, "shmmin": l.shmmin, "shmmni": l.shmmni,
            "shmseg": l.shmseg, "shmall": l.shmall,
        },
        "usage": {
            "segments": u.segments, "pages": u.pages, "resident_pages": u.resident_pages,
            "swapped_pages": u.swapped_pages,
            "swap_attempts": u.swap_attempts,
            "swap_successes": u.swap_successes,
            "max_index": u.max_index,
        },
        "page_size": page_size,
    });
    let mut t = table();
    row(
        &mut t,
        "shmmni",
        l.shmmni,
        format!("{} segments", u.segments),
        "most segments",
    );
    row(
        &mut t,
        "shmmax",
        l.shmmax,
        none(),
        "largest segment, in bytes",
    );
    row(
        &mut t,
        "shmmin",
        l.shmmin,
        none(),
        "smallest segment, in bytes",
    );
    row(
        &mut t,
        "shmall",
        l.shmall,
        format!(
            "{} pages ({} resident, {} swapped)",
            u.pages, u.resident_pages, u.swapped_pages
        ),
        &format!("most shared memory, in pages of {page_size} bytes"),
    );
    row(
        &mut t,
        "shmseg",
        l.shmseg,
        none(),
        "most attachments per process",
    );
    Ok((value, t, "------ Shared Memory Limits --------"))
}

/// Semaphores.
fn sem() -> Result<(Value, Table, &'static str)> {
    let l = info::sem_limits()?;
    let u = info::sem_usage()?;
    let value = json!({
        "limits": {
            "semmsl": l.semmsl, "semmns": l.semmns, "semopm": l.semopm,
            "semmni": l.semmni, "semvmx": l.semvmx, "semaem": l.semaem,
        },
        "usage": { "sets": u.sets, "semaphores": u.semaphores, "max_index": u.max_index },
    });
    let mut t = table();
    row(
        &mut t,
        "semmni",
        l.semmni,
        format!("{} sets", u.sets),
        "most sets",
    );
    row(
        &mut t,
        "semmsl",
        l.semmsl,
        none(),
        "most semaphores per set",
    );
    row(
        &mut t,
        "semmns",
        l.semmns,
        format!("{} semaphores", u.semaphores),
        "most semaphores in all sets",
    );
    row(
        &mut t,
        "semopm",
        l.semopm,
        none(),
        "most operations per semop call",
    );
    row(
        &mut t,
        "semvmx",
        l.semvmx,
        none(),
        "largest semaphore value",
    );
    row(
        &mut t,
        "semaem",
        l.semaem,
        none(),
        "largest undo adjustment",
    );
    Ok((value, t, "------ Semaphore Limits --------"))
}

/// Message queues.
fn msg() -> Result<(Value, Table, &'static str)> {
    let l = info::msg_limits()?;
    let u = info::msg_usage()?;
    let value = json!({
        "limits": { "msgmax": l.msgmax, "msgmnb": l.msgmnb, "msgmni": l.msgmni },
        "usage": {
            "queues": u.queues, "messages": u.messages, "bytes": u.bytes,
            "max_index": u.max_index,
        },
    });
    let mut t = table();
    row(
        &mut t,
        "msgmni",
        l.msgmni,
        format!(
            "{} queues ({} messages, {} bytes)",
            u.queues, u.messages, u.bytes
        ),
        "most queues",
    );
    row(
        &mut t,
        "msgmax",
        l.msgmax,
        none(),
        "longest message, in bytes",
    );
    row(
        &mut t,
        "msgmnb",
        l.msgmnb,
        none(),
        "default most bytes in one queue",
    );
    Ok((value, t, "------ Messages Limits --------"))
}
