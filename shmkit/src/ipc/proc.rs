//! The tables in `/proc/sysvipc/{shm,sem,msg}`: a header line of column names, then one
//! whitespace-separated row per object. Columns are found by name, so kernels that add
//! columns (as `rss` and `swap` were added) still parse.

use crate::error::{Error, ErrorKind, Result};
use std::str::FromStr;

/// A parsed table.
pub(crate) struct ProcTable<'a> {
    path: &'static str,
    header: Vec<&'a str>,
    rows: Vec<(&'a str, Vec<&'a str>)>,
}

/// A column's position (and name, for error messages).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    index: usize,
    name: &'static str,
}

/// One row, with the table to look up columns.
pub(crate) struct ProcRow<'t, 'a> {
    table: &'t ProcTable<'a>,
    line: &'a str,
    fields: &'t [&'a str],
}

impl<'a> ProcTable<'a> {
    /// Splits `text` (the contents of `path`) into header and rows.
    pub(crate) fn parse(path: &'static str, text: &'a str) -> Result<ProcTable<'a>> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .ok_or_else(|| malformed(path, "", "empty file"))?
            .split_whitespace()
            .collect();
        let mut rows = Vec::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < header.len() {
                return Err(malformed(path, line, "short line"));
            }
            rows.push((line, fields));
        }
        Ok(ProcTable { path, header, rows })
    }

    /// The positions of the named columns, resolved once for all rows; fails unless every
    /// one is present.
    pub(crate) fn require<const N: usize>(&self, names: [&'static str; N]) -> Result<[Col; N]> {
        let mut out = [Col { index: 0, name: "" }; N];
        for (slot, name) in out.iter_mut().zip(names) {
            let index = self
                .header
                .iter()
                .position(|h| *h == name)
                .ok_or_else(|| malformed(self.path, name, "missing column"))?;
            *slot = Col { index, name };
        }
        Ok(out)
    }

    /// The position of an optional column.
    pub(crate) fn optional_column(&self, name: &'static str) -> Option<Col> {
        let index = self.header.iter().position(|h| *h == name)?;
        Some(Col { index, name })
    }

    /// The rows.
    pub(crate) fn rows(&self) -> impl Iterator<Item = ProcRow<'_, 'a>> {
        self.rows.iter().map(move |(line, fields)| ProcRow {
            table: self,
            line,
            fields,
        })
    }
}

impl ProcRow<'_, '_> {
    /// The column as a decimal number.
    pub(crate) fn get<T: FromStr>(&self, col: Col) -> Result<T> {
        self.fields
            .get(col.index)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| malformed(self.table.path, self.line, &format!("bad {}", col.name)))
    }

    /// The column as a decimal number, or `None` when the kernel has no such column.
    pub(crate) fn optional<T: FromStr>(&self, col: Option<Col>) -> Result<Option<T>> {
        col.map(|c| self.get(c)).transpose()
    }

    /// The column as an octal number (the `perms` column).
    pub(crate) fn octal(&self, col: Col) -> Result<u32> {
        self.fields
            .get(col.index)
            .and_then(|f| u32::from_str_radix(f, 8).ok())
            .ok_or_else(|| malformed(self.table.path, self.line, &format!("bad {}", col.name)))
    }
}

fn malformed(path: &'static str, line: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::LayoutMismatch,
        "read",
        path.to_owned(),
        format!("{why}: {line:?}"),
    )
}
