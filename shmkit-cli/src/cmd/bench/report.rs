//! The results: one row per figure, printed as a table or as JSON.

use super::super::{Out, Result};
use crate::format::Table;
use serde_json::{Map, Value};

/// One row of the output.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The mechanism (`spin_limit`, `spsc_poll`, ...) or throughput figure.
    pub(crate) name: &'static str,
    /// The message size in bytes.
    pub(crate) size: usize,
    /// How the bytes travel: `none`, `copy`, `zero_copy`.
    pub(crate) payload: &'static str,
    /// Median over the rounds of each round's median, in nanoseconds (one way for
    /// latency, per message for throughput).
    pub(crate) p50_ns: f64,
    /// Median over the rounds of each round's 99th percentile (latency), or the 99th
    /// percentile of the rounds' figures (throughput).
    pub(crate) p99_ns: f64,
    /// Median of the per-round ratios to `spin_limit` (latency rows).
    pub(crate) ratio_to_limit: Option<f64>,
    /// Round trips (or messages) per round.
    pub(crate) iterations: u64,
    /// Rounds.
    pub(crate) rounds: usize,
    /// Further JSON fields (`idle_cpu_percent`, `throughput_mb_s`, `ratio_to_memcpy`).
    pub(crate) extra: Vec<(&'static str, f64)>,
    /// What the row means.
    pub(crate) notes: String,
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

impl Row {
    /// The row as a JSON object.
    pub(crate) fn json(&self) -> Value {
        let mut map = Map::new();
        map.insert("name".into(), self.name.into());
        map.insert("size".into(), self.size.into());
        map.insert("p50_ns".into(), round(self.p50_ns, 1).into());
        map.insert("p99_ns".into(), round(self.p99_ns, 1).into());
        if let Some(r) = self.ratio_to_limit {
            map.insert("ratio_to_limit".into(), round(r, 3).into());
        }
        map.insert("payload".into(), self.payload.into());
        map.insert("iterations".into(), self.iterations.into());
        map.insert("rounds".into(), self.rounds.into());
        for (key, value) in &self.extra {
            map.insert((*key).into(), round(*value, 3).into());
        }
        map.insert("notes".into(), self.notes.clone().into());
        Value::Object(map)
    }
}

/// A size as the table shows it: `64B`, `16KiB`, `4MiB` (exact multiples), else bytes.
pub(crate) fn size_text(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

/// A duration in nanoseconds as the table shows it.
fn ns_text(ns: f64) -> String {
    if ns >= 100.0 {
        format!("{ns:.0}")
    } else {
        format!("{ns:.1}")
    }
}

/// Prints `{"results": [...]}`.
///
/// # Errors
/// Writing failed.
pub(crate) fn print_json(out: &mut Out, rows: &[Row]) -> Result<()> {
    let results: Vec<Value> = rows.iter().map(Row::json).collect();
    let mut map = Map::new();
    map.insert("results".into(), Value::Array(results));
    out.json(&Value::Object(map), false)
}

/// Prints the table, then the footnotes.
///
/// # Errors
/// Writing failed.
pub(crate) fn print_table(out: &mut Out, rows: &[Row], footnotes: &[String]) -> Result<()> {
    let mut table = Table::new(&["name", "size", "p50_ns", "p99_ns", "ratio", "notes"]);
    for row in rows {
        table.push(vec![
            row.name.to_owned(),
            size_text(row.size),
            ns_text(row.p50_ns),
            ns_text(row.p99_ns),
            row.ratio_to_limit
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
            row.notes.clone(),
        ]);
    }
    for line in table.lines() {
        out.line(line)?;
    }
    out.line("")?;
    for note in footnotes {
        out.line(note)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{size_text, Row};

    #[test]
    fn sizes_and_json_fields() {
        assert_eq!(size_text(64), "64B");
        assert_eq!(size_text(1024), "1KiB");
        assert_eq!(size_text(4 << 20), "4MiB");
        assert_eq!(size_text(1000), "1000B");
        let row = Row {
            name: "spsc_poll",
            size: 64,
            payload: "zero_copy",
            p50_ns: 71.25,
            p99_ns: 120.0,
            ratio_to_limit: Some(1.23456),
            iterations: 10,
            rounds: 2,
            extra: vec![("idle_cpu_percent", 99.5)],
            notes: String::new(),
        };
        let json = row.json();
        assert_eq!(json["name"], "spsc_poll");
        assert_eq!(json["size"], 64);
        assert_eq!(json["p50_ns"], 71.3);
        assert_eq!(json["ratio_to_limit"], 1.235);
        assert_eq!(json["idle_cpu_percent"], 99.5);
    }
}
