//! The cells every resource shares: key, id, owner, permissions, creator and owner ids and
//! names, the change time; and how sizes, times and permissions are shown.

use super::super::common;
use super::args::{Control, TimeMode};
use super::columns::*;
use crate::{format, names};
use shmkit_os::LocalTime;

/// Formats cell values: names ([`crate::names`]), times, sizes, permissions.
pub(super) struct Cells {
    bytes: bool,
    pub(super) numperms: bool,
    time_mode: TimeMode,
    now: Option<Option<LocalTime>>,
}

impl Cells {
    pub(super) fn new(ctl: &Control, time_mode: TimeMode) -> Cells {
        Cells {
            bytes: ctl.bytes,
            numperms: ctl.numperms,
            time_mode,
            now: None,
        }
    }

    /// A time cell: nothing for 0 ("never").
    pub(super) fn time(&mut self, t: i64) -> Option<String> {
        (t != 0).then(|| self.make_time(t))
    }

    /// `make_time`.
    fn make_time(&mut self, t: i64) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        match self.time_mode {
            TimeMode::Full => common::ctime(t),
            TimeMode::Short => {
                let now = self
                    .now
                    .get_or_insert_with(|| shmkit_os::local_time(unix_now()))
                    .clone();
                let (Some(tm), Some(now)) = (shmkit_os::local_time(t), now) else {
                    return String::new();
                };
                let month = MONTHS[(tm.month as usize + 11) % 12];
                if tm.yearday == now.yearday && tm.year == now.year {
                    format!("{:02}:{:02}", tm.hour, tm.minute)
                } else if tm.year == now.year {
                    format!("{month}{:02}", tm.day)
                } else {
                    format!("{}-{month}{:02}", tm.year, tm.day)
                }
            }
            TimeMode::Iso => {
                let Some(tm) = shmkit_os::local_time(t) else {
                    return String::new();
                };
                let tmin = tm.utc_offset / 60;
                let (zhour, zmin) = (tmin / 60, (tmin % 60).abs());
                format!(
                    "{:4}-{:02}-{:02}T{:02}:{:02}:{:02}{zhour:+03}:{zmin:02}",
                    tm.year, tm.month, tm.day, tm.hour, tm.minute, tm.second
                )
            }
        }
    }

    /// A size: human-readable unless `--bytes`.
    pub(super) fn size(&self, v: u64) -> String {
        if self.bytes {
            v.to_string()
        } else {
            common::human_size(v)
        }
    }

    /// `PERMS`: `rwxrwxrwx` (as `ls -l` and `shmkit` show them), or `%#o` with
    /// `--numeric-perms`.
    pub(super) fn perms(&self, mode: u32) -> String {
        if self.numperms {
            common::alt_octal(mode & 0o777)
        } else {
            format::mode_letters(mode)
        }
    }

    /// The columns every resource has. `cgid_shown` is what the CGID column shows
    /// (upstream shows the creator's uid there for segments and queues); `perms` is the
    /// PERMS cell (upstream leaves it empty for queues with `-P`).
    pub(super) fn generic(&mut self, col: usize, g: &Generic) -> Option<String> {
        match col {
            COL_KEY => Some(format!("0x{:08x}", g.key as u32)),
            COL_ID => Some(g.id.to_string()),
            COL_OWNER => Some(names::user_or_number(g.uid)),
            COL_PERMS => g.perms.clone(),
            COL_CUID => Some(g.cuid.to_string()),
            COL_CUSER => names::user(g.cuid),
            COL_CGID => Some(g.cgid_shown.to_string()),
            COL_CGROUP => names::group(g.cgid),
            COL_UID => Some(g.uid.to_string()),
            COL_USER => names::user(g.uid),
            COL_GID => Some(g.gid.to_string()),
            COL_GROUP => names::group(g.gid),
            COL_CTIME => self.time(g.ctime),
            _ => None,
        }
    }
}

/// The fields every object has, as the cells use them.
pub(super) struct Generic {
    pub(super) key: i32,
    pub(super) id: i32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) cuid: u32,
    pub(super) cgid: u32,
    pub(super) cgid_shown: u32,
    pub(super) perms: Option<String>,
    pub(super) ctime: i64,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(time_mode: TimeMode) -> Cells {
        let mut c = Cells::new(&Control::default(), time_mode);
        // "Now" is 2026-06-15 12:00 UTC; noon keeps the day for any zone within ±11 h.
        c.now = Some(shmkit_os::local_time(1_781_524_800));
        c
    }

    #[test]
    fn short_times_depend_on_today() {
        let mut c = cells(TimeMode::Short);
        let today = c.make_time(1_781_526_840);
        assert!(today.len() == 5 && today.as_bytes()[2] == b':', "{today}");
        assert_eq!(c.make_time(1_772_712_000), "Mar05");
        assert_eq!(c.make_time(1_577_793_600), "2019-Dec31");
        assert_eq!(c.time(0), None);
    }

    #[test]
    fn full_and_iso_times() {
        let full = cells(TimeMode::Full).make_time(1_577_793_600);
        assert!(
            full.starts_with("Tue Dec 31 ") && full.ends_with(" 2019"),
            "{full}"
        );
        let iso = cells(TimeMode::Iso).make_time(1_577_793_600);
        assert!(iso.starts_with("2019-12-31T") && iso.len() == 25, "{iso}");
        assert!(
            matches!(&iso[19..20], "+" | "-") && &iso[22..23] == ":",
            "{iso}"
        );
    }

    #[test]
    fn cell_helpers() {
        let mut c = cells(TimeMode::Short);
        assert_eq!(c.perms(0o1640), "rw-r-----");
        assert_eq!(c.perms(0o7), "------rwx");
        c.numperms = true;
        assert_eq!(c.perms(0o644), "0644");
        assert_eq!(c.perms(0), "0");
        assert_eq!(c.size(1536), "1.5K");
        c.bytes = true;
        assert_eq!(c.size(1536), "1536");
    }
}
