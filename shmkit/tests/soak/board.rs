//! The board: a private segment through which the processes of one soak see each other
//! (who is ready, how many calls each made, the call in flight, what the scribbler wrote
//! last, and when to stop).

use super::*;

/// Slot 0 is the control slot; slot 1 the scribbler's; the victims' follow.
pub(crate) const SLOT: usize = 128;
pub(crate) const CONTROL: usize = 0;
pub(crate) const SCRIBBLER: usize = 1;
pub(crate) const FIRST_VICTIM: usize = 2;
/// Control slot: set when the victims must stop (the scribbler finished, or every victim
/// is gone and the scribbler must stop too).
pub(crate) const STOP: usize = 0;
/// A participant's slot: its pid and tid (set when it is ready), operations completed,
/// and the call in flight: its start (`CLOCK_MONOTONIC` ns, 0 when none), its timeout (ns,
/// `u64::MAX` when it has none), and its name.
pub(crate) const PID: usize = 0;
pub(crate) const TID: usize = 8;
pub(crate) const OPS: usize = 16;
pub(crate) const START: usize = 24;
pub(crate) const TIMEOUT: usize = 32;
/// Set by the test when the participant has exited or was killed.
pub(crate) const GONE: usize = 40;
/// The scribbler's slot: the value it wrote last (and, at NAME, where).
pub(crate) const VALUE: usize = 48;
/// Control slot: the slot of the one victim allowed to call now (0: all are), so that a
/// hostile value meets that victim's calls alone, without other endpoints' calls changing
/// the structure under it (see `Victim::checkpoint`).
pub(crate) const SOLO: usize = 16;
pub(crate) const NAME: usize = 64;
pub(crate) const NAME_LEN: usize = 64;
pub(crate) const UNTIMED: u64 = u64::MAX;

pub(crate) struct Board {
    pub(crate) map: Attachment,
}

impl Board {
    pub(crate) fn word(&self, slot: usize, field: usize) -> &AtomicU64 {
        self.map.atomic_u64(slot * SLOT + field).unwrap()
    }
    pub(crate) fn get(&self, slot: usize, field: usize) -> u64 {
        self.word(slot, field).load(Ordering::Acquire)
    }
    pub(crate) fn set(&self, slot: usize, field: usize, v: u64) {
        self.word(slot, field).store(v, Ordering::Release)
    }
    pub(crate) fn stopped(&self) -> bool {
        self.get(CONTROL, STOP) != 0
    }
    pub(crate) fn begin(&self, slot: usize, op: &str, timeout: Option<Duration>) {
        let mut name = [0u8; NAME_LEN];
        let n = op.len().min(NAME_LEN);
        name[..n].copy_from_slice(&op.as_bytes()[..n]);
        self.map.write_at(slot * SLOT + NAME, &name).unwrap();
        self.set(
            slot,
            TIMEOUT,
            timeout.map_or(UNTIMED, |t| t.as_nanos() as u64),
        );
        self.set(slot, START, now_ns());
    }
    /// The scribbler records what it is writing, for the report of a victim's death.
    pub(crate) fn note(&self, what: &str, v: u64) {
        let mut name = [0u8; NAME_LEN];
        let n = what.len().min(NAME_LEN);
        name[..n].copy_from_slice(&what.as_bytes()[..n]);
        self.map.write_at(SCRIBBLER * SLOT + NAME, &name).unwrap();
        self.set(SCRIBBLER, VALUE, v);
    }
    pub(crate) fn noted(&self) -> String {
        let name = self
            .map
            .read_vec(SCRIBBLER * SLOT + NAME, NAME_LEN)
            .unwrap();
        let end = name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        format!(
            "{} := {:#x}",
            String::from_utf8_lossy(&name[..end]),
            self.get(SCRIBBLER, VALUE)
        )
    }
    pub(crate) fn end(&self, slot: usize) {
        self.set(slot, START, 0);
        self.word(slot, OPS).fetch_add(1, Ordering::AcqRel);
    }
    /// The call in flight in `slot`: its name, how long it has run, and its timeout.
    pub(crate) fn in_flight(&self, slot: usize) -> Option<(String, Duration, Option<Duration>)> {
        let start = self.get(slot, START);
        if start == 0 {
            return None;
        }
        let timeout = self.get(slot, TIMEOUT);
        let name = self.map.read_vec(slot * SLOT + NAME, NAME_LEN).unwrap();
        if self.get(slot, START) != start {
            return None; // it ended meanwhile
        }
        let end = name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        Some((
            String::from_utf8_lossy(&name[..end]).into_owned(),
            Duration::from_nanos(now_ns().saturating_sub(start)),
            (timeout != UNTIMED).then(|| Duration::from_nanos(timeout)),
        ))
    }
}

pub(crate) fn attach_id(id: ShmId) -> Attachment {
    Segment::from_id(id)
        .and_then(|s| s.attach())
        .expect("attaching a soak segment")
}
