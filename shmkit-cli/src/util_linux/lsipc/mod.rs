//! `lsipc`, as util-linux 2.38.1 behaves (see the project's `shared/docs/util-linux.md`,
//! §5): System V IPC objects or the system-wide limits as a libsmartcols table
//! ([`table`]), or one object in the "pretty" `Label: value` form with `--id`.
//!
//! Modules, imports pointing down: this file (the run) → [`summary`] (the `--global`
//! rows) → [`rows`] (one row per object) → [`cells`] (the shared cells, times, sizes) and
//! [`output`] (the table for the chosen columns and output mode, `--id`'s pretty form) →
//! [`args`] (the options) → [`columns`] (the column descriptions); [`table`]
//! (libsmartcols) under all that draw.

mod args;
mod cells;
mod columns;
mod output;
mod rows;
mod summary;
mod table;

use super::common::{Flow, Tool};
use args::OutMode;
use cells::Cells;
use output::{new_table, print_pretty};
use rows::{do_msg, do_sem, do_shm};
use summary::{msg_global, sem_global, shm_global};
use table::Table;

/// Runs `lsipc` with `args` (`args[0]` is the name it was invoked by).
pub(crate) fn main(tool: &mut Tool, args: Vec<String>) -> Flow {
    let (ctl, id, time_mode) = args::parse(tool, args)?;
    let pretty = ctl.outmode == Some(OutMode::Pretty);
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
