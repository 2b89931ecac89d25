//! Formatting what the library returns: the `ipcs -m`-style segment row of the demo, the
//! tables of `ls` and `limits`, `stat`'s fields, times, permission bits, the JSON of every
//! object, and `hexdump -C`.

use crate::names;
use crate::objects::{Kind, Liveness, Object, Processes, Semaphore};
use serde_json::{json, Map, Value};
use shmkit::{Key, MsgStat, SegmentStat, SemStat};
use std::fmt::Write as _;

/// The header of the segment table, as `ipcs -m` prints it.
pub(crate) const SEGMENT_HEADER: &str =
    "key        shmid      owner      perms      bytes      nattch     status";

/// One segment as a row under [`SEGMENT_HEADER`], with the columns of `ipcs -m`
/// (`%-10s %-10d %-10s %-10o %-10lu %-10ld %-6s`): key, id, owner (the user's name, or the uid
/// when no user has it), permission bits in octal, size in bytes, attachments, and status
/// (`dest` and/or `locked`).
pub(crate) fn segment_row(stat: &SegmentStat) -> String {
    format!(
        "{:<10} {:<10} {:<10} {:<10o} {:<10} {:<10} {:<6}",
        stat.key.to_string(),
        stat.id.raw(),
        names::user_or_number(stat.uid),
        stat.mode,
        stat.size,
        stat.nattch,
        status(stat),
    )
}

/// The status column: `dest` (removed, waiting for the last detach), `locked` (`SHM_LOCK`),
/// both, or nothing.
fn status(stat: &SegmentStat) -> &'static str {
    match (stat.dest, stat.locked) {
        (true, true) => "dest locked",
        (true, false) => "dest",
        (false, true) => "locked",
        (false, false) => "",
    }
}

/// A table: each column left-aligned under its header and as wide as its widest cell,
/// columns two spaces apart, no trailing spaces.
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub(crate) fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per header).
    pub(crate) fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The header line and one line per row.
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        std::iter::once(&header)
            .chain(&self.rows)
            .map(|row| {
                let mut line = String::new();
                for (cell, width) in row.iter().zip(&widths) {
                    let _ = write!(line, "{cell:<width$}  ");
                }
                line.trim_end().to_owned()
            })
            .collect()
    }
}

/// A time (seconds since the epoch) in the local time zone, as
/// `2026-11-28 06:43:15 UTC`; `never` for 0, the kernel's "did not happen".
pub(crate) fn time(secs: i64) -> String {
    if secs == 0 {
        return "never".to_owned();
    }
    match shmkit_os::local_time(secs) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
            t.year, t.month, t.day, t.hour, t.minute, t.second, t.zone
        ),
        None => format!("{secs} seconds after the epoch"),
    }
}

/// Permission bits as `ls -l` shows them: `rw-r-----`.
pub(crate) fn mode_letters(mode: u32) -> String {
    (0..9)
        .map(|bit| {
            if mode & (0o400 >> bit) == 0 {
                '-'
            } else {
                ['r', 'w', 'x'][bit % 3]
            }
        })
        .collect()
}

/// A pid with what can be told about its process: `1234 (running)`, `1234 (gone)`,
/// `0 (none)`, or just the number.
pub(crate) fn pid(procs: &Processes, pid: i32) -> String {
    if pid == 0 {
        return "0 (none)".to_owned();
    }
    match procs.liveness(pid) {
        Liveness::Running => format!("{pid} (running)"),
        Liveness::Gone => format!("{pid} (gone)"),
        Liveness::Unknown => pid.to_string(),
    }
}

/// A user id with its name: `1000 (alice)`, or the number alone.
fn uid_text(uid: u32) -> String {
    match names::user(uid) {
        Some(name) => format!("{uid} ({name})"),
        None => uid.to_string(),
    }
}

/// A group id with its name: `1000 (staff)`, or the number alone.
fn gid_text(gid: u32) -> String {
    match names::group(gid) {
        Some(name) => format!("{gid} ({name})"),
        None => gid.to_string(),
    }
}

/// A key with `(IPC_PRIVATE)` after the private key.
fn key_text(key: Key) -> String {
    if key.is_private() {
        format!("{key} (IPC_PRIVATE)")
    } else {
        key.to_string()
    }
}

/// `yes` or `no`.
fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// The title `ipcs` prints above a kind's table.
pub(crate) fn section_title(kind: Kind) -> &'static str {
    match kind {
        Kind::Shm => "------ Shared Memory Segments --------",
        Kind::Sem => "------ Semaphore Arrays --------",
        Kind::Msg => "------ Message Queues --------",
    }
}

/// `ls`'s table of one kind's objects (the objects of other kinds are skipped).
pub(crate) fn ls_table(kind: Kind, objects: &[Object]) -> Table {
    let headers: &[&'static str] = match kind {
        Kind::Shm => &[
            "key", "shmid", "owner", "perms", "bytes", "nattch", "cpid", "lpid", "status", "stale",
        ],
        Kind::Sem => &["key", "semid", "owner", "perms", "nsems", "otime", "stale"],
        Kind::Msg => &[
            "key",
            "msqid",
            "owner",
            "perms",
            "used-bytes",
            "messages",
            "lspid",
            "lrpid",
            "stale",
        ],
    };
    let mut table = Table::new(headers);
    for object in objects.iter().filter(|o| o.kind() == kind) {
        let stale = object.stale().text().to_owned();
        let row = match object {
            Object::Shm { stat, .. } => vec![
                stat.key.to_string(),
                stat.id.to_string(),
                names::user_or_number(stat.uid),
                format!("{:03o}", stat.mode),
                stat.size.to_string(),
                stat.nattch.to_string(),
                stat.cpid.to_string(),
                stat.lpid.to_string(),
                match status(stat) {
                    "" => "-",
                    s => s,
                }
                .replace(' ', ","),
                stale,
            ],
            Object::Sem { stat, .. } => vec![
                stat.key.to_string(),
                stat.id.to_string(),
                names::user_or_number(stat.uid),
                format!("{:03o}", stat.mode),
                stat.nsems.to_string(),
                match stat.otime {
                    0 => "never".to_owned(),
                    t => t.to_string(),
                },
                stale,
            ],
            Object::Msg { stat, .. } => vec![
                stat.key.to_string(),
                stat.id.to_string(),
                names::user_or_number(stat.uid),
                format!("{:03o}", stat.mode),
                stat.cbytes.to_string(),
                stat.qnum.to_string(),
                stat.lspid.to_string(),
                stat.lrpid.to_string(),
                stale,
            ],
        };
        table.push(row);
    }
    table
}

/// `stat`'s lines for one object: `name  value`, named as in the JSON, and for a set the
/// table of its semaphores.
pub(crate) fn stat_lines(object: &Object, procs: &Processes) -> Vec<String> {
    let mut fields: Vec<(&str, String)> = vec![
        ("kind", object.kind().noun().to_owned()),
        ("id", object.id().to_string()),
        ("key", key_text(object.key())),
    ];
    let (uid, gid, cuid, cgid, mode) = perm_fields(object);
    fields.extend([
        ("uid", uid_text(uid)),
        ("gid", gid_text(gid)),
        ("cuid", uid_text(cuid)),
        ("cgid", gid_text(cgid)),
        ("mode", format!("{mode:03o} ({})", mode_letters(mode))),
    ]);
    let mut semaphores = None;
    match object {
        Object::Shm { stat, .. } => fields.extend([
            ("size", format!("{} bytes", stat.size)),
            ("nattch", stat.nattch.to_string()),
            ("dest", yes_no(stat.dest)),
            ("locked", yes_no(stat.locked)),
            ("cpid", pid(procs, stat.cpid)),
            ("lpid", pid(procs, stat.lpid)),
            ("atime", time(stat.atime)),
            ("dtime", time(stat.dtime)),
            ("ctime", time(stat.ctime)),
            ("rss", optional_bytes(stat.rss)),
            ("swap", optional_bytes(stat.swap)),
        ]),
        Object::Sem {
            stat,
            semaphores: sems,
            ..
        } => {
            fields.extend([
                ("nsems", stat.nsems.to_string()),
                ("otime", time(stat.otime)),
                ("ctime", time(stat.ctime)),
            ]);
            semaphores = Some(sems);
        }
        Object::Msg { stat, .. } => fields.extend([
            ("qnum", stat.qnum.to_string()),
            ("cbytes", format!("{} bytes", stat.cbytes)),
            ("qbytes", format!("{} bytes", stat.qbytes)),
            ("lspid", pid(procs, stat.lspid)),
            ("lrpid", pid(procs, stat.lrpid)),
            ("stime", time(stat.stime)),
            ("rtime", time(stat.rtime)),
            ("ctime", time(stat.ctime)),
        ]),
    }
    fields.push(("stale", object.stale().text().to_owned()));
    let width = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut lines: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{name:<width$}  {value}"))
        .collect();
    match semaphores {
        Some(Some(sems)) => {
            lines.push(String::new());
            lines.extend(semaphore_table(sems).lines());
        }
        Some(None) => lines.push("semaphores: not readable by this user".to_owned()),
        None => {}
    }
    lines
}

/// The table of a set's semaphores.
fn semaphore_table(semaphores: &[Semaphore]) -> Table {
    let mut table = Table::new(&["semnum", "value", "ncnt", "zcnt", "pid"]);
    for s in semaphores {
        table.push(vec![
            s.num.to_string(),
            s.value.to_string(),
            s.ncnt.to_string(),
            s.zcnt.to_string(),
            s.pid.to_string(),
        ]);
    }
    table
}

/// Bytes, or `unknown` when the source does not tell.
fn optional_bytes(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!("{b} bytes"),
        None => "unknown".to_owned(),
    }
}

/// Owner, group, creator and mode, which every kind has.
fn perm_fields(object: &Object) -> (u32, u32, u32, u32, u32) {
    match object {
        Object::Shm { stat, .. } => (stat.uid, stat.gid, stat.cuid, stat.cgid, stat.mode),
        Object::Sem { stat, .. } => (stat.uid, stat.gid, stat.cuid, stat.cgid, stat.mode),
        Object::Msg { stat, .. } => (stat.uid, stat.gid, stat.cuid, stat.cgid, stat.mode),
    }
}

/// A key as JSON fields: `key` as `0x%08x` and `key_raw` as the signed `key_t` value (as C
/// and `/proc/sysvipc` show it).
pub(crate) fn key_json(map: &mut Map<String, Value>, key: Key) {
    map.insert("key".into(), key.to_string().into());
    map.insert("key_raw".into(), key.raw().into());
}

/// The short JSON of an object: `kind`, `id`, `key`, `key_raw` (what `mk` and `rm` report).
pub(crate) fn object_ref_json(object: &Object) -> Map<String, Value> {
    reference_json(object.kind().name(), object.id(), object.key())
}

/// `kind`, `id`, `key`, `key_raw` as a JSON object.
pub(crate) fn reference_json(kind: &str, id: i32, key: Key) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("kind".into(), kind.into());
    map.insert("id".into(), id.into());
    key_json(&mut map, key);
    map
}

/// Everything about an object as JSON, with the library's field names (`stat --json`, and
/// each element of `ls --json`). Times are seconds since the epoch (0: never); `owner` and
/// `group` are the names of `uid` and `gid` (`null` when none); `perms` is `mode` in octal;
/// `stale` is `true`, `false` or `null` (cannot tell).
pub(crate) fn object_json(object: &Object) -> Value {
    let mut map = object_ref_json(object);
    let (uid, gid, cuid, cgid, mode) = perm_fields(object);
    let common = json!({
        "uid": uid,
        "gid": gid,
        "cuid": cuid,
        "cgid": cgid,
        "owner": names::user(uid),
        "group": names::group(gid),
        "mode": mode,
        "perms": format!("{mode:03o}"),
        "stale": object.stale().json(),
    });
    extend(&mut map, common);
    let specific = match object {
        Object::Shm { stat, .. } => segment_fields(stat),
        Object::Sem {
            stat, semaphores, ..
        } => set_fields(stat, semaphores.as_deref()),
        Object::Msg { stat, .. } => queue_fields(stat),
    };
    extend(&mut map, specific);
    Value::Object(map)
}

/// Moves the fields of `more` (a JSON object) into `map`.
fn extend(map: &mut Map<String, Value>, more: Value) {
    if let Value::Object(more) = more {
        map.extend(more);
    }
}

/// A segment's own fields.
fn segment_fields(stat: &SegmentStat) -> Value {
    json!({
        "size": stat.size,
        "nattch": stat.nattch,
        "cpid": stat.cpid,
        "lpid": stat.lpid,
        "atime": stat.atime,
        "dtime": stat.dtime,
        "ctime": stat.ctime,
        "dest": stat.dest,
        "locked": stat.locked,
        "rss": stat.rss,
        "swap": stat.swap,
    })
}

/// A set's own fields; `semaphores` is `null` when they cannot be read.
fn set_fields(stat: &SemStat, semaphores: Option<&[Semaphore]>) -> Value {
    let semaphores = semaphores.map(|sems| {
        sems.iter()
            .map(|s| {
                json!({
                    "num": s.num,
                    "value": s.value,
                    "ncnt": s.ncnt,
                    "zcnt": s.zcnt,
                    "pid": s.pid,
                })
            })
            .collect::<Vec<_>>()
    });
    json!({
        "nsems": stat.nsems,
        "otime": stat.otime,
        "ctime": stat.ctime,
        "semaphores": semaphores,
    })
}

/// A queue's own fields.
fn queue_fields(stat: &MsgStat) -> Value {
    json!({
        "cbytes": stat.cbytes,
        "qnum": stat.qnum,
        "qbytes": stat.qbytes,
        "lspid": stat.lspid,
        "lrpid": stat.lrpid,
        "stime": stat.stime,
        "rtime": stat.rtime,
        "ctime": stat.ctime,
    })
}

/// `hexdump -C`, fed in pieces: for each 16 bytes the offset (`%08x`), the bytes in hex
/// in two groups of eight, and the printable ASCII ones (others as `.`) between bars; a
/// line equal to the one before it becomes a single `*` until the bytes change; at the end
/// the offset after the last byte. No input, no output.
#[derive(Debug, Default)]
pub(crate) struct HexDump {
    /// The offset of the first byte of `pending`.
    offset: u64,
    /// The bytes of the line being filled (fewer than 16).
    pending: Vec<u8>,
    /// The last full line, to spot repeats.
    previous: Option<[u8; 16]>,
    /// Whether a `*` stands for the repeats of `previous`.
    starred: bool,
}

impl HexDump {
    /// A dump starting at offset 0.
    pub(crate) fn new() -> HexDump {
        HexDump::default()
    }

    /// Feeds `bytes`, appending the lines they complete to `out`.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], out: &mut String) {
        while !bytes.is_empty() {
            let take = (16 - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if let Ok(line) = <[u8; 16]>::try_from(self.pending.as_slice()) {
                if self.previous == Some(line) {
                    if !self.starred {
                        out.push_str("*\n");
                        self.starred = true;
                    }
                } else {
                    push_hex_line(out, self.offset, &line);
                    self.starred = false;
                }
                self.previous = Some(line);
                self.offset += 16;
                self.pending.clear();
            }
        }
    }

    /// Appends the last (partial) line and the final offset to `out`.
    pub(crate) fn finish(mut self, out: &mut String) {
        let total = self.offset + self.pending.len() as u64;
        if !self.pending.is_empty() {
            push_hex_line(out, self.offset, &self.pending);
            self.pending.clear();
        }
        if total > 0 {
            let _ = writeln!(out, "{total:08x}");
        }
    }
}

/// One `hexdump -C` line of up to 16 bytes, the hex part padded so that the ASCII part
/// lines up.
fn push_hex_line(out: &mut String, offset: u64, bytes: &[u8]) {
    let mut hex = String::with_capacity(49);
    for (i, b) in bytes.iter().enumerate() {
        let _ = write!(hex, "{b:02x} ");
        if i == 7 {
            hex.push(' ');
        }
    }
    let ascii: String = bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    let _ = writeln!(out, "{offset:08x}  {hex:<49} |{ascii}|");
}

#[cfg(test)]
mod tests {
    use super::*;
    use shmkit::{Key, Segment};

    #[test]
    fn row_columns_line_up_with_the_header() {
        let segment = Segment::builder(Key::PRIVATE)
            .size(4096)
            .mode(0o640)
            .create()
            .unwrap()
            .remove_on_drop();
        let stat = segment.stat().unwrap();
        let row = segment_row(&stat);
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields[0], "0x00000000");
        assert_eq!(fields[1], segment.id().raw().to_string());
        assert_eq!(fields[2], names::user_or_number(stat.uid));
        assert_eq!(fields[3], "640");
        assert_eq!(fields[4], "4096");
        assert_eq!(fields[5], "0");
        assert_eq!(fields.len(), 6, "no status: {row:?}");
        // Every column starts where its header does (for values up to 10 characters).
        for name in ["shmid", "perms", "bytes", "nattch", "status"] {
            let at = SEGMENT_HEADER.find(name).unwrap();
            assert!(
                at == 0 || row.as_bytes()[at - 1] == b' ',
                "{name} in {row:?}"
            );
        }
        assert_eq!(row.len(), SEGMENT_HEADER.len(), "{row:?}");
    }

    #[test]
    fn status_names_dest_and_locked() {
        let segment = Segment::builder(Key::PRIVATE)
            .size(1)
            .create()
            .unwrap()
            .remove_on_drop();
        let map = segment.attach().unwrap();
        segment.remove().unwrap();
        let stat = segment.stat().unwrap();
        assert!(segment_row(&stat).trim_end().ends_with(" dest"));
        drop(map);
    }

    /// `hexdump -C` of the 100-byte pattern below, from util-linux's hexdump.
    const PATTERN_DUMP: &str = "\
00000000  48 65 6c 6c 6f 20 77 6f  72 6c 64 0a 00 00 00 00  |Hello world.....|
00000010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|
*
00000030  ff ff ff ff ff ff ff ff  ff ff ff ff ff ff ff ff  |................|
*
00000050  00 01 1f 20 7e 7f 80 fe  61 62 63 64 65 66 67 68  |... ~...abcdefgh|
00000060  78 79 7a 0a                                       |xyz.|
00000064
";

    /// Text, repeated zero lines, repeated 0xff lines, the edges of printable ASCII, and a
    /// partial last line.
    fn pattern() -> Vec<u8> {
        let mut bytes = vec![0u8; 100];
        bytes[..12].copy_from_slice(b"Hello world\n");
        bytes[48..80].fill(0xff);
        bytes[80..96].copy_from_slice(b"\x00\x01\x1f\x20\x7e\x7f\x80\xfeabcdefgh");
        bytes[96..].copy_from_slice(b"xyz\n");
        bytes
    }

    fn dump(bytes: &[u8], piece: usize) -> String {
        let mut dump = HexDump::new();
        let mut text = String::new();
        for chunk in bytes.chunks(piece.max(1)) {
            dump.feed(chunk, &mut text);
        }
        dump.finish(&mut text);
        text
    }

    #[test]
    fn hexdump_matches_hexdump_c_whatever_the_pieces() {
        let bytes = pattern();
        for piece in [1, 7, 16, 17, 100] {
            assert_eq!(dump(&bytes, piece), PATTERN_DUMP, "pieces of {piece}");
        }
    }

    #[test]
    fn hexdump_edges() {
        assert_eq!(dump(&[], 1), "", "no input, no output");
        assert_eq!(
            dump(b"ab\n", 16),
            "00000000  61 62 0a                                          |ab.|\n00000003\n"
        );
        assert_eq!(
            dump(&[0u8; 64], 5),
            "00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n*\n00000040\n"
        );
        let eight = dump(b"abcdefgh", 16);
        assert_eq!(eight.lines().next().unwrap().len(), 70, "{eight:?}");
    }

    #[test]
    fn table_aligns_columns_and_trims() {
        let mut table = Table::new(&["a", "long header", "c"]);
        table.push(vec!["wide cell".into(), "1".into(), String::new()]);
        assert_eq!(
            table.lines(),
            vec!["a          long header  c", "wide cell  1"]
        );
    }

    #[test]
    fn modes_and_times() {
        assert_eq!(mode_letters(0o640), "rw-r-----");
        assert_eq!(mode_letters(0o777), "rwxrwxrwx");
        assert_eq!(mode_letters(0), "---------");
        assert_eq!(time(0), "never");
        assert!(
            time(1_700_000_000).starts_with("2023-11-"),
            "{}",
            time(1_700_000_000)
        );
    }
}
