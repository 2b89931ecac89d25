//! The part of libsmartcols 2.38.1 that `lsipc` uses: a table of text cells printed as
//! aligned columns (with libsmartcols' width calculation and, on a terminal, its
//! truncation), raw, `NAME="value"` pairs (`--export`, `--newline`) or JSON, with the
//! library's escaping rules for each format.
//!
//! Cells are bytes (a command line need not be UTF-8); a missing cell (`None`) and an
//! empty one print the same in every format.

/// One column: its name (the header) and how its cells are laid out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    /// The header text (`KEY`, `USE%`).
    pub(crate) name: &'static str,
    /// `SCOLS_FL_RIGHT`: right-aligned.
    pub(crate) right: bool,
    /// `SCOLS_FL_TRUNC`: may be truncated to fit a terminal.
    pub(crate) trunc: bool,
    /// `SCOLS_FL_NOEXTREMES`: overlong cells do not widen the column on a terminal.
    pub(crate) noextremes: bool,
}

/// The output format (`scols_table_enable_raw/export/json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Aligned columns.
    Human,
    /// Cells separated by one space, blanks and odd bytes as `\xHH`.
    Raw,
    /// `NAME="value"` pairs separated by a space.
    Export,
    /// `NAME="value"` pairs, one per line.
    Newline,
    /// A JSON object holding an array of objects.
    Json,
}

/// A table ready to print.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// The name (the JSON array's key).
    pub(crate) name: String,
    /// The columns, in order.
    pub(crate) columns: Vec<Column>,
    /// The lines: one cell per column, `None` for no data.
    pub(crate) rows: Vec<Vec<Option<Vec<u8>>>>,
    /// How to print it.
    pub(crate) format: Format,
    /// `scols_table_enable_noheadings`.
    pub(crate) noheadings: bool,
    /// `scols_table_enable_shellvar`: names as shell variables (`USE%` → `USE_PCT`).
    pub(crate) shellvar: bool,
    /// The terminal's width when standard output is a terminal (human format only):
    /// columns are then narrowed to fit as libsmartcols does.
    pub(crate) term_width: Option<usize>,
}

impl Table {
    /// An empty human table with these columns.
    pub(crate) fn new(columns: Vec<Column>) -> Table {
        Table {
            name: String::new(),
            columns,
            rows: Vec::new(),
            format: Format::Human,
            noheadings: false,
            shellvar: false,
            term_width: None,
        }
    }

    /// The column's name as printed: as-is, or as a shell variable name with `-y`.
    fn column_name(&self, col: &Column) -> String {
        if self.shellvar {
            shellvar_name(col.name)
        } else {
            col.name.to_owned()
        }
    }

    /// What `scols_print_table` writes: nothing at all for a table without lines (except
    /// in JSON), otherwise every line ending in a newline.
    pub(crate) fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.format == Format::Json {
            self.render_json(&mut out);
            return out;
        }
        if self.rows.is_empty() || self.columns.is_empty() {
            return out;
        }
        match self.format {
            Format::Human => self.render_human(&mut out),
            Format::Raw => self.render_raw(&mut out),
            Format::Export | Format::Newline => self.render_export(&mut out),
            Format::Json => unreachable!("handled above"),
        }
        out
    }

    fn render_raw(&self, out: &mut Vec<u8>) {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        if !self.noheadings {
            let names: Vec<Vec<u8>> = self
                .columns
                .iter()
                .map(|c| nonblank(self.column_name(c).as_bytes()))
                .collect();
            lines.push(names.join(&b' '));
        }
        for row in &self.rows {
            let cells: Vec<Vec<u8>> = row
                .iter()
                .map(|c| nonblank(c.as_deref().unwrap_or_default()))
                .collect();
            lines.push(cells.join(&b' '));
        }
        for line in lines {
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
    }

    fn render_export(&self, out: &mut Vec<u8>) {
        let sep = if self.format == Format::Newline {
            b'\n'
        } else {
            b' '
        };
        for row in &self.rows {
            for (i, (col, cell)) in self.columns.iter().zip(row).enumerate() {
                if i > 0 {
                    out.push(sep);
                }
                out.extend_from_slice(self.column_name(col).as_bytes());
                out.push(b'=');
                out.extend_from_slice(&quoted(cell.as_deref().unwrap_or_default()));
            }
            out.push(b'\n');
        }
    }

    fn render_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\n   ");
        out.extend_from_slice(&json_string(self.name.as_bytes()));
        out.extend_from_slice(b": [\n");
        if self.rows.is_empty() {
            out.extend_from_slice(b"\n   ]\n}\n");
            return;
        }
        // The keys are the same in every row: encode them once.
        let keys: Vec<Vec<u8>> = self
            .columns
            .iter()
            .map(|col| json_string(self.column_name(col).to_ascii_lowercase().as_bytes()))
            .collect();
        for (r, row) in self.rows.iter().enumerate() {
            out.extend_from_slice(if r == 0 { b"      {\n" } else { b",{\n" });
            let n = self.columns.len();
            for (i, (key, cell)) in keys.iter().zip(row).enumerate() {
                out.extend_from_slice(b"         ");
                out.extend_from_slice(key);
                out.extend_from_slice(b": ");
                match cell.as_deref() {
                    Some(data) if !data.is_empty() => json_string_into(out, data),
                    _ => out.extend_from_slice(b"null"),
                }
                out.extend_from_slice(if i + 1 < n { b",\n" } else { b"\n" });
            }
            out.extend_from_slice(b"      }");
        }
        out.extend_from_slice(b"\n   ]\n}\n");
    }

    fn render_human(&self, out: &mut Vec<u8>) {
        let cells: Vec<Vec<(String, usize)>> = self
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|c| safe_encode(c.as_deref().unwrap_or_default()))
                    .collect()
            })
            .collect();
        let header: Vec<(String, usize)> = self
            .columns
            .iter()
            .map(|c| safe_encode(self.column_name(c).as_bytes()))
            .collect();
        let widths = self.calculate(&cells);
        let mut lines = Vec::new();
        if !self.noheadings {
            lines.push(self.human_line(&header, &widths));
        }
        for row in &cells {
            lines.push(self.human_line(row, &widths));
        }
        for line in lines {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }

    /// `__scols_calculate`: each column's width.
    fn calculate(&self, cells: &[Vec<(String, usize)>]) -> Vec<usize> {
        let mut cals: Vec<Calc> = self
            .columns
            .iter()
            .map(|c| Calc {
                // The minimum is the header's width (of the name, also with -y).
                width_min: safe_encode(c.name.as_bytes()).1.max(1),
                ..Calc::default()
            })
            .collect();
        for (i, col) in self.columns.iter().enumerate() {
            cals[i].count(col, cells.iter().map(|r| r[i].1));
        }
        let Some(term) = self.term_width else {
            return cals.iter().map(|c| c.width).collect();
        };
        let n = cals.len();
        let mut width: usize = cals.iter().map(|c| c.width).sum::<usize>() + n.saturating_sub(1);
        let mut extremes = cals.iter().filter(|c| c.is_extreme).count();

        // Reduce columns with extreme cells.
        if width > term && extremes > 0 {
            for (i, col) in self.columns.iter().enumerate() {
                if !cals[i].is_extreme {
                    continue;
                }
                let org = cals[i].width;
                cals[i].count(col, cells.iter().map(|r| r[i].1));
                if org > cals[i].width {
                    width -= org - cals[i].width;
                } else {
                    extremes -= 1;
                }
            }
        }
        if width < term {
            if extremes > 0 {
                // Enlarge the first extreme column(s) again.
                for cal in cals.iter_mut().filter(|c| c.is_extreme) {
                    let mut add = term - width;
                    if add > 0 && cal.width + add > cal.width_max {
                        add = cal.width_max.saturating_sub(cal.width);
                    }
                    cal.width += add;
                    width += add;
                    if width == term {
                        break;
                    }
                }
            }
            if width < term {
                // Enlarge the last column (no visible effect unless right-aligned, which
                // is excluded).
                if let (Some(col), Some(cal)) = (self.columns.last(), cals.last_mut()) {
                    if !col.right {
                        cal.width += term - width;
                        width = term;
                    }
                }
            }
        }
        // Reduce: stage 1 and 3 concern relative width hints, which lsipc does not use;
        // stage 2 truncates the columns with the TRUNC flag, one cell at a time.
        let mut stage = 1;
        while width > term && stage <= 3 {
            let org = width;
            for (i, col) in self.columns.iter().enumerate() {
                if width <= term {
                    break;
                }
                let cal = &mut cals[i];
                if cal.width == cal.width_min || cal.width == 0 {
                    continue;
                }
                if stage == 2 && col.trunc {
                    cal.width -= 1;
                    width -= 1;
                }
            }
            if org == width {
                stage += 1;
            }
        }
        cals.iter().map(|c| c.width).collect()
    }

    /// One human line (`print_line` / `print_data`), without its newline.
    fn human_line(&self, cells: &[(String, usize)], widths: &[usize]) -> String {
        let mut out = String::new();
        let n = self.columns.len();
        for (k, col) in self.columns.iter().enumerate() {
            let is_last = k + 1 == n;
            let (mut data, mut len) = (cells[k].0.as_str(), cells[k].1);
            let mut width = widths[k];
            if is_last && len < width && !col.right {
                width = len;
            }
            if len > width && col.trunc {
                let (cut, cells) = truncate(data, width);
                data = cut;
                len = cells;
            }
            if !data.is_empty() {
                if col.right {
                    pad(&mut out, width.saturating_sub(len));
                    len = width;
                }
                out.push_str(data);
            }
            if is_last {
                continue;
            }
            pad(&mut out, width.saturating_sub(len));
            if len > width && !col.trunc {
                // The next column starts on a new line, below its own position.
                out.push('\n');
                for (i, w) in widths.iter().enumerate().take(k + 1) {
                    if i + 1 == n {
                        break;
                    }
                    pad(&mut out, *w);
                    out.push(' ');
                }
            } else {
                out.push(' ');
            }
        }
        out
    }
}

/// A column's widths as libsmartcols counts them.
#[derive(Debug, Clone, Copy, Default)]
struct Calc {
    width: usize,
    width_min: usize,
    width_max: usize,
    width_avg: usize,
    is_extreme: bool,
}

impl Calc {
    /// `count_column_width`: the widest cell (skipping extreme cells once the column is
    /// known to have them), at least the header's width.
    fn count(&mut self, col: &Column, lens: impl Iterator<Item = usize>) {
        self.width = 0;
        let (mut sum, mut count) = (0usize, 0usize);
        for len in lens {
            self.width_max = self.width_max.max(len);
            if self.is_extreme && self.width_avg != 0 && len > self.width_avg * 2 {
                continue;
            } else if col.noextremes {
                sum += len;
                count += 1;
            }
            self.width = self.width.max(len);
        }
        if count > 0 && self.width_avg == 0 {
            self.width_avg = sum / count;
            if self.width_avg != 0 && self.width_max > self.width_avg * 2 {
                self.is_extreme = true;
            }
        }
        if self.width < self.width_min {
            self.width = self.width_min;
        }
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// libsmartcols' shell-variable form of a column name: `_` before a leading non-letter,
/// `_` for every other non-alphanumeric character, `PCT` after a trailing `%`.
pub(crate) fn shellvar_name(name: &str) -> String {
    let mut s = String::new();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.push('_');
    }
    s.extend(
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    if name.ends_with('%') {
        s.push_str("PCT");
    }
    s
}

fn hex_escape(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
}

/// Raw format (`fputs_nonblank`): blanks, backslashes and anything not printable in
/// the C.UTF-8 locale's single-byte classes become `\xHH`.
fn nonblank(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        if b == b' ' || b == b'\t' || b == b'\\' || !(0x21..0x7f).contains(&b) {
            hex_escape(&mut out, b);
        } else {
            out.push(b);
        }
    }
    out
}

/// Export format (`fputs_quoted`): `"…"` with `"`, `\`, `` ` ``, `$` and unprintable
/// bytes as `\xHH`.
fn quoted(data: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in data {
        if matches!(b, b'"' | b'\\' | b'`' | b'$') || !(0x20..0x7f).contains(&b) {
            hex_escape(&mut out, b);
        } else {
            out.push(b);
        }
    }
    out.push(b'"');
    out
}

/// A JSON string (`fputs_quoted_json`): `"` and `\` escaped, control characters as
/// `\b \t \n \f \r` or `\u00xx`, everything else as-is.
fn json_string(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    json_string_into(&mut out, data);
    out
}

/// Appends `data` to `out` as a JSON string, escaped as libsmartcols does.
fn json_string_into(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'"');
    for &b in data {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f => out.extend_from_slice(format!("\\u00{b:02x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// `mbs_safe_encode`: control characters, a backslash starting `\x`, invalid UTF-8 and
/// unprintable characters become `\xHH`; returns the text and its width on screen.
pub(crate) fn safe_encode(data: &[u8]) -> (String, usize) {
    let mut out = String::new();
    let mut width = 0;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if (b == b'\\' && data.get(i + 1) == Some(&b'x')) || b < 0x20 || b == 0x7f {
            out.push_str(&format!("\\x{b:02x}"));
            width += 4;
            i += 1;
            continue;
        }
        match decode_char(&data[i..]) {
            Some((c, n)) => {
                match char_width(c) {
                    Some(w) => {
                        out.push(c);
                        width += w;
                    }
                    None => {
                        for &x in &data[i..i + n] {
                            out.push_str(&format!("\\x{x:02x}"));
                            width += 4;
                        }
                    }
                }
                i += n;
            }
            None => {
                out.push_str(&format!("\\x{b:02x}"));
                width += 4;
                i += 1;
            }
        }
    }
    (out, width)
}

/// The UTF-8 character at the start of `data` and its length (`mbrtowc`); `None` for an
/// invalid or incomplete sequence.
fn decode_char(data: &[u8]) -> Option<(char, usize)> {
    let n = match data[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let s = std::str::from_utf8(data.get(..n)?).ok()?;
    s.chars().next().map(|c| (c, n))
}

/// `wcwidth` for a printable character, `None` when `iswprint` is false. An
/// approximation of glibc's C.UTF-8 tables: C1 controls and line/paragraph separators
/// are unprintable, combining marks and zero-width formats take no cell, East Asian wide
/// and fullwidth characters (and most emoji) take two.
pub(crate) fn char_width(c: char) -> Option<usize> {
    let u = c as u32;
    if u < 0x20 || (0x7f..0xa0).contains(&u) || u == 0x2028 || u == 0x2029 {
        return None;
    }
    const ZERO: &[(u32, u32)] = &[
        (0x0300, 0x036f),
        (0x0483, 0x0489),
        (0x0591, 0x05bd),
        (0x0610, 0x061a),
        (0x064b, 0x065f),
        (0x0e31, 0x0e31),
        (0x0e34, 0x0e3a),
        (0x1ab0, 0x1aff),
        (0x1dc0, 0x1dff),
        (0x200b, 0x200f),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x20d0, 0x20ff),
        (0xfe00, 0xfe0f),
        (0xfe20, 0xfe2f),
        (0xfeff, 0xfeff),
    ];
    const WIDE: &[(u32, u32)] = &[
        (0x1100, 0x115f),
        (0x231a, 0x231b),
        (0x2329, 0x232a),
        (0x2e80, 0x303e),
        (0x3041, 0x33ff),
        (0x3400, 0x4dbf),
        (0x4e00, 0x9fff),
        (0xa000, 0xa4cf),
        (0xa960, 0xa97f),
        (0xac00, 0xd7a3),
        (0xf900, 0xfaff),
        (0xfe10, 0xfe19),
        (0xfe30, 0xfe6f),
        (0xff00, 0xff60),
        (0xffe0, 0xffe6),
        (0x1f300, 0x1f64f),
        (0x1f900, 0x1f9ff),
        (0x20000, 0x2fffd),
        (0x30000, 0x3fffd),
    ];
    let within = |t: &[(u32, u32)]| t.iter().any(|&(a, b)| (a..=b).contains(&u));
    Some(if within(ZERO) {
        0
    } else if within(WIDE) {
        2
    } else {
        1
    })
}

/// `mbs_truncate`: the longest prefix of `data` (safe-encoded text) that fits in `width`
/// cells, and its width.
fn truncate(data: &str, width: usize) -> (&str, usize) {
    let mut cells = 0;
    for (i, c) in data.char_indices() {
        let w = char_width(c).unwrap_or(1);
        if cells + w > width {
            return (&data[..i], cells);
        }
        cells += w;
    }
    (data, cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &'static str, right: bool) -> Column {
        Column {
            name,
            right,
            trunc: false,
            noextremes: false,
        }
    }

    fn text(t: &Table) -> String {
        String::from_utf8(t.render()).unwrap()
    }

    #[test]
    fn human_pads_and_aligns_like_libsmartcols() {
        let mut t = Table::new(vec![
            col("KEY", false),
            col("OWNER", true),
            col("CMD", true),
        ]);
        t.rows = vec![
            vec![Some(b"k".to_vec()), Some(b"root".to_vec()), None],
            vec![Some(b"kk".to_vec()), None, Some(b"x".to_vec())],
        ];
        assert_eq!(text(&t), "KEY OWNER CMD\nk    root \nkk          x\n");
    }

    /// `lsipc -m` on a terminal, as util-linux printed it in a 70- and a 100-column pty:
    /// COMMAND is cut, the extreme STATUS value overflows onto a continuation line. The
    /// interpreter's path in COMMAND is a neutral fixture of the same length (40 bytes, all
    /// ASCII) as the one recorded, so the layout is the same: it depends on widths only.
    #[test]
    fn terminal_output_truncates_and_wraps_like_libsmartcols() {
        let names = [
            ("KEY", false),
            ("ID", false),
            ("PERMS", true),
            ("OWNER", true),
            ("SIZE", true),
            ("NATTCH", true),
            ("STATUS", false),
            ("CTIME", true),
            ("CPID", true),
            ("LPID", true),
            ("COMMAND", false),
        ];
        let mut cols: Vec<Column> = names.iter().map(|&(n, r)| col(n, r)).collect();
        cols[6].noextremes = true;
        cols[10].trunc = true;
        let cmd1 = "/usr/local/example/venv/3.11/bin/python3 -c import sysv_ipc as s,signal; m=s.SharedMemory(0x99, s.IPC_CREX, 0o600, 100); open(\"/tmp/rdy\",\"w\").write(\"x\"); signal.pause()";
        let cmd2 = "/usr/local/example/venv/3.11/bin/python3 -c import sysv_ipc as s,signal,ctypes; m=s.SharedMemory(0x98, s.IPC_CREX, 0o600, 100); m.attach(); libc=ctypes.CDLL(None); libc.shmctl(m.id, 11, None); m.remove(); open(\"/tmp/rdy\",\"w\").write(\"x\"); signal.pause()";
        let row = |cells: [&str; 11]| -> Vec<Option<Vec<u8>>> {
            cells
                .iter()
                .map(|c| (!c.is_empty()).then(|| c.as_bytes().to_vec()))
                .collect()
        };
        let mut t = Table::new(cols);
        t.rows = vec![
            row([
                "0x00000099",
                "0",
                "rw-------",
                "root",
                "100B",
                "1",
                "",
                "06:52",
                "30950",
                "30950",
                cmd1,
            ]),
            row([
                "0x00000000",
                "1",
                "rw-------",
                "root",
                "100B",
                "2",
                "dest,locked",
                "06:52",
                "30994",
                "30994",
                cmd2,
            ]),
            row([
                "0x96f1eb75",
                "2",
                "rw-r--r--",
                "root",
                "4K",
                "0",
                "",
                "06:52",
                "31038",
                "0",
                "",
            ]),
        ];
        t.term_width = Some(70);
        assert_eq!(
            text(&t),
            "KEY        ID     PERMS OWNER SIZE NATTCH STATUS CTIME  CPID  LPID COMMAND\n\
             0x00000099 0  rw-------  root 100B      1        06:52 30950 30950 /usr/lo\n\
             0x00000000 1  rw-------  root 100B      2 dest,locked\n\
             \x20                                                06:52 30994 30994 /usr/lo\n\
             0x96f1eb75 2  rw-r--r--  root   4K      0        06:52 31038     0 \n"
        );
        t.term_width = Some(100);
        let out = text(&t);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].ends_with(" 30950 /usr/local/example/venv/3.11/bin/"));
        assert_eq!(lines[1].len(), 100);
        // Without a terminal nothing is cut: the widest STATUS sets the column.
        t.term_width = None;
        assert!(text(&t).contains(" STATUS      CTIME "));
    }

    #[test]
    fn empty_tables_print_nothing_but_json() {
        let mut t = Table::new(vec![col("KEY", false)]);
        assert_eq!(text(&t), "");
        t.format = Format::Json;
        t.name = "semaphores".into();
        assert_eq!(text(&t), "{\n   \"semaphores\": [\n\n   ]\n}\n");
    }

    #[test]
    fn escapes_per_format() {
        assert_eq!(safe_encode(b"a\\x\tb").0, "a\\x5cx\\x09b");
        assert_eq!(safe_encode("é日".as_bytes()).1, 3);
        assert_eq!(nonblank(b"a b\\"), b"a\\x20b\\x5c");
        assert_eq!(quoted(b"$\"x"), b"\"\\x24\\x22x\"");
        assert_eq!(json_string(b"a\"\t\x01"), b"\"a\\\"\\t\\u0001\"");
        assert_eq!(shellvar_name("USE%"), "USE_PCT");
        assert_eq!(shellvar_name("1A"), "_1A");
    }
}
