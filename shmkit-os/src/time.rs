//! Local time as C tools compute it.

use crate::sys;

/// A broken-down local time (`struct tm` from `localtime_r(3)`).
///
/// # References
/// - [`localtime_r(3)`](https://man7.org/linux/man-pages/man3/localtime_r.3.html)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalTime {
    /// The year, e.g. 2026.
    pub year: i32,
    /// The month, 1 to 12.
    pub month: u32,
    /// The day of the month, 1 to 31.
    pub day: u32,
    /// The hour, 0 to 23.
    pub hour: u32,
    /// The minute, 0 to 59.
    pub minute: u32,
    /// The second, 0 to 60.
    pub second: u32,
    /// The day of the week, 0 (Sunday) to 6.
    pub weekday: u32,
    /// The day of the year, 0 to 365.
    pub yearday: u32,
    /// Seconds east of UTC.
    pub utc_offset: i64,
    /// Whether daylight saving time is in effect.
    pub dst: bool,
    /// The zone's abbreviation, e.g. `UTC` or `IST`.
    pub zone: String,
}

/// `secs` since the epoch in the local time zone (`TZ`, else `/etc/localtime`), as
/// `localtime_r(3)` computes it; `None` when it cannot be represented.
///
/// `TZ` is read once per process (`tzset(3)` on the first call), as `localtime(3)` does.
///
/// # References
/// - [`localtime_r(3)`](https://man7.org/linux/man-pages/man3/localtime_r.3.html)
/// - [`tzset(3)`](https://man7.org/linux/man-pages/man3/tzset.3.html)
pub fn local_time(secs: i64) -> Option<LocalTime> {
    sys::time::localtime(secs).map(|t| LocalTime {
        year: t.year,
        month: t.month,
        day: t.day,
        hour: t.hour,
        minute: t.minute,
        second: t.second,
        weekday: t.weekday,
        yearday: t.yearday,
        utc_offset: t.utc_offset,
        dst: t.dst,
        zone: t.zone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_is_1970_in_any_zone_and_unrepresentable_times_are_none() {
        // Whatever TZ says, the epoch falls on 31 Dec 1969 or 1 Jan 1970 local time, and the
        // fields are consistent with the UTC offset.
        let t = local_time(0).unwrap();
        assert!(
            matches!((t.year, t.month, t.day), (1970, 1, 1) | (1969, 12, 31)),
            "{t:?}"
        );
        let local_secs = i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
        let day_offset = if t.year == 1970 { 0 } else { -86_400 };
        assert_eq!(local_secs + day_offset, t.utc_offset, "{t:?}");
        // Thursday, 1 January 1970 (UTC).
        assert_eq!(t.weekday, if t.year == 1970 { 4 } else { 3 });
        // Beyond what a 32-bit year (tm_year) can hold: localtime_r fails with EOVERFLOW.
        assert_eq!(local_time(i64::MAX), None);
    }
}
