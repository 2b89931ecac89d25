//! The rows of `--global` (`global_set_data`): each resource's system-wide limits and how
//! much of them is used.

use super::super::common;
use super::super::lists;
use super::args::Control;
use super::columns::*;
use super::rows::push_row;
use super::table::Table;

/// `global_set_data`: one summary row. `usage` is the used amount when the resource has
/// one; `byte_unit` makes the limit a human-readable size unless `--bytes`.
pub(super) fn global_row(
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
pub(super) fn percent(used: u64, limit: u64) -> String {
    let v = used as f64 / limit as f64 * 100.0;
    if v.is_nan() {
        "-nan%".to_owned()
    } else if v.is_infinite() {
        "inf%".to_owned()
    } else {
        format!("{v:2.2}%")
    }
}

pub(super) fn msg_global(ctl: &Control, table: &mut Table) {
    let (mni, max, mnb) = shmkit::info::msg_limits()
        .map(|l| (l.msgmni, l.msgmax, l.msgmnb))
        .unwrap_or_default();
    let queues = lists::queues().0.len() as u64;
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

pub(super) fn shm_global(ctl: &Control, table: &mut Table) {
    let (mni, all, max) = shmkit::info::shm_limits()
        .map(|l| (l.shmmni, l.shmall, l.shmmax))
        .unwrap_or_default();
    let segments = lists::segments();
    let count = segments.len() as u64;
    let sum: u64 = segments
        .iter()
        .fold(0u64, |acc, s| acc.wrapping_add(s.size as u64));
    let page = (shmkit::info::page_size() as u64).max(1);
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

pub(super) fn sem_global(ctl: &Control, table: &mut Table) {
    let (mni, mns, msl, opm) = shmkit::info::sem_limits()
        .map(|l| (l.semmni, l.semmns, l.semmsl, l.semopm))
        .unwrap_or_default();
    let sets = lists::semaphore_sets();
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
    use super::percent;

    #[test]
    fn percentages_as_printf_prints_them() {
        assert_eq!(percent(2, 4096), "0.05%");
        assert_eq!(percent(0, 32000), "0.00%");
        assert_eq!(percent(3, 4), "75.00%");
    }
}
