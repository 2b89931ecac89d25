//! `localtime_r(3)`: local time as C tools compute it (`TZ`, else `/etc/localtime`).

use std::mem::MaybeUninit;

extern "C" {
    /// `tzset(3)`: (re)reads `TZ`; the libc crate does not declare it.
    fn tzset();
}

/// A broken-down local time, as `struct tm` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tm {
    pub(crate) year: i32,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) weekday: u32,
    pub(crate) yearday: u32,
    pub(crate) utc_offset: i64,
    pub(crate) dst: bool,
    pub(crate) zone: String,
}

/// `localtime_r(secs)`, honouring `TZ` (read by `tzset` once per process, as `localtime`
/// does on its first call).
pub(crate) fn localtime(secs: i64) -> Option<Tm> {
    let t = libc::time_t::try_from(secs).ok()?;
    let mut tm = MaybeUninit::<libc::tm>::zeroed();
    // tzset reads TZ (and stats the zone file) again at every call: once per process is
    // what localtime does, and a listing formats thousands of times.
    static TZSET: std::sync::Once = std::sync::Once::new();
    // SAFETY: tzset has no preconditions.
    TZSET.call_once(|| unsafe { tzset() });
    // SAFETY: localtime_r gets a valid time_t and a writable struct tm, and returns null on
    // failure.
    let ok = unsafe { !libc::localtime_r(&t, tm.as_mut_ptr()).is_null() };
    if !ok {
        return None;
    }
    // SAFETY: localtime_r filled `tm`.
    let tm = unsafe { tm.assume_init() };
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: tm_zone points at a NUL-terminated string owned by libc's time-zone data,
        // valid until the next tzset; it is copied at once.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    Some(Tm {
        year: tm.tm_year + 1900,
        month: tm.tm_mon as u32 + 1,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        weekday: tm.tm_wday as u32,
        yearday: tm.tm_yday as u32,
        utc_offset: tm.tm_gmtoff,
        dst: tm.tm_isdst > 0,
        zone,
    })
}
