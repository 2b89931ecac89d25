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

    /// Fails unless every named column is present.
    pub(crate) fn require(&self, names: &[&str]) -> Result<()> {
        for name in names {
            if !self.header.contains(name) {
                return Err(malformed(self.path, name, "missing column"));
            }
        }
        Ok(())
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
    fn raw(&self, name: &str) -> Option<&str> {
        let col = self.table.header.iter().position(|h| *h == name)?;
        self.fields.get(col).copied()
    }

    /// The column `name` as a decimal number.
    pub(crate) fn get<T: FromStr>(&self, name: &str) -> Result<T> {
        self.raw(name)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| malformed(self.table.path, self.line, &format!("bad {name}")))
    }

    /// The column `name` as a decimal number, or `None` when the kernel has no such column.
    pub(crate) fn optional<T: FromStr>(&self, name: &str) -> Result<Option<T>> {
        match self.raw(name) {
            None => Ok(None),
            Some(_) => self.get(name).map(Some),
        }
    }

    /// The column `name` as an octal number (the `perms` column).
    pub(crate) fn octal(&self, name: &str) -> Result<u32> {
        self.raw(name)
            .and_then(|f| u32::from_str_radix(f, 8).ok())
            .ok_or_else(|| malformed(self.table.path, self.line, &format!("bad {name}")))
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
