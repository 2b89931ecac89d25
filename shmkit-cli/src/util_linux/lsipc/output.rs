//! The table for the chosen columns and output mode (`setup_table`), the terminal's
//! width, and the "pretty" `Label: value` form of one object (`print_pretty`).

use super::super::common::Tool;
use super::args::{Control, OutMode};
use super::columns::COLS;
use super::table::{Column, Format, Table};

/// `setup_table`: the table for the chosen columns and output mode.
pub(super) fn new_table(ctl: &Control, columns: &[usize]) -> Table {
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
pub(super) fn terminal_width() -> Option<usize> {
    if !shmkit_os::is_terminal(1) {
        return None;
    }
    if let Some(w) = shmkit_os::terminal_width(1) {
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
pub(super) fn print_pretty(
    tool: &mut Tool,
    columns: &[usize],
    table: &Table,
    elements: Option<&Table>,
) {
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
