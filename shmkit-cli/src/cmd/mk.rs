//! `shmkit mk`: create a segment, a semaphore set and/or a message queue, like `ipcmk`,
//! but with the library's safer default mode `0600` (not `ipcmk`'s `0644`) and always
//! exclusively: a key that already names an object of that kind is an error, never a
//! silent open.
//!
//! Prints one line per object, `created <kind> id <id> key <key>`
//! (`created shm id 32769 key 0x00000000`: the same labels as `rm`'s lines); with `--json`
//! `{"created": [{"kind", "id", "key", "key_raw"}, ...]}`. When one creation fails, the
//! objects this run already created are removed again before the error is reported.

use super::{Error, Out, Result};
use crate::format;
use crate::objects::Kind;
use serde_json::Value;
use shmkit::{info, ErrorKind, Key, MessageQueue, Segment, SemaphoreSet};

/// What to create.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    /// A segment of this many bytes.
    pub(crate) shm: Option<usize>,
    /// A set of this many semaphores.
    pub(crate) sem: Option<usize>,
    /// A message queue.
    pub(crate) msg: bool,
    /// The permission bits of each.
    pub(crate) mode: u32,
    /// The key of each ([`Key::PRIVATE`] for a new private object).
    pub(crate) key: Key,
}

/// An object this run created, until the run succeeds.
#[derive(Debug)]
enum Created {
    Shm(Segment),
    Sem(SemaphoreSet),
    Msg(MessageQueue),
}

impl Created {
    fn kind(&self) -> Kind {
        match self {
            Created::Shm(_) => Kind::Shm,
            Created::Sem(_) => Kind::Sem,
            Created::Msg(_) => Kind::Msg,
        }
    }

    fn id(&self) -> i32 {
        match self {
            Created::Shm(o) => o.id().raw(),
            Created::Sem(o) => o.id().raw(),
            Created::Msg(o) => o.id().raw(),
        }
    }

    fn remove(&self) -> shmkit::Result<()> {
        match self {
            Created::Shm(o) => o.remove(),
            Created::Sem(o) => o.remove(),
            Created::Msg(o) => o.remove(),
        }
    }
}

/// Creates what `request` asks for, in the order segment, set, queue.
///
/// # Errors
/// The library's creation error (key in use, size or count out of the kernel's limits,
/// no space left), followed by the limit that refused it with its value where one did
/// (`refused by semmsl, the most semaphores in one set: 32000`); the objects created
/// before it are removed first.
pub(crate) fn run(out: &mut Out, request: Request, json: bool) -> Result<()> {
    let mut created: Vec<Created> = Vec::new();
    if let Err((kind, e)) = create_all(&request, &mut created) {
        for object in created.iter().rev() {
            let _ = object.remove();
        }
        return Err(match refusing_limit(kind, &request, &e) {
            Some(why) => Error::Message(format!("{e}: {why}")),
            None => e.into(),
        });
    }
    if json {
        let items: Vec<Value> = created
            .iter()
            .map(|o| Value::Object(format::reference_json(o.kind().name(), o.id(), request.key)))
            .collect();
        let mut map = serde_json::Map::new();
        map.insert("created".into(), Value::Array(items));
        return out.json(&Value::Object(map), false);
    }
    for object in &created {
        out.line(format_args!(
            "created {} id {} key {}",
            object.kind().name(),
            object.id(),
            request.key
        ))?;
    }
    Ok(())
}

/// Creates each object asked for, recording it in `created` as soon as it exists; on
/// failure, the kind that failed and why.
fn create_all(request: &Request, created: &mut Vec<Created>) -> Result<(), (Kind, shmkit::Error)> {
    if let Some(size) = request.shm {
        let segment = Segment::builder(request.key)
            .size(size)
            .mode(request.mode)
            .create()
            .map_err(|e| (Kind::Shm, e))?;
        created.push(Created::Shm(segment));
    }
    if let Some(count) = request.sem {
        let set = SemaphoreSet::builder(request.key)
            .count(count)
            .mode(request.mode)
            .create()
            .map_err(|e| (Kind::Sem, e))?;
        created.push(Created::Sem(set));
    }
    if request.msg {
        let queue = MessageQueue::builder(request.key)
            .mode(request.mode)
            .create()
            .map_err(|e| (Kind::Msg, e))?;
        created.push(Created::Msg(queue));
    }
    Ok(())
}

/// Which of the kernel's limits (as `shmkit limits` shows them) refused creating `kind`,
/// in words with the limit's name and value, or `None` when the error is not a limit's or
/// the limits cannot be read.
///
/// The kernel's checks, in its order: `shmget` fails with `EINVAL` for a size above
/// `shmmax` (or below `shmmin`), with `ENOSPC` when the pages in use plus this segment's
/// would pass `shmall` or when `shmmni` segments exist, and with `ENOMEM` when it cannot
/// reserve the memory itself (its overcommit check against RAM and swap, which no System V
/// limit sets). `semget` fails with `EINVAL` for more than `semmsl` semaphores, with
/// `ENOSPC` past `semmns` semaphores in all or `semmni` sets; `msgget` with `ENOSPC` when
/// `msgmni` queues exist.
fn refusing_limit(kind: Kind, request: &Request, e: &shmkit::Error) -> Option<String> {
    match kind {
        Kind::Shm => shm_refusal(request.shm? as u64, e.kind()),
        Kind::Sem => sem_refusal(request.sem? as u64, e.kind()),
        Kind::Msg => {
            let limits = info::msg_limits().ok()?;
            let usage = info::msg_usage().ok()?;
            (e.kind() == ErrorKind::LimitExceeded && usage.queues >= limits.msgmni).then(|| {
                format!(
                    "refused by msgmni, the most queues: {} ({} in use)",
                    limits.msgmni, usage.queues
                )
            })
        }
    }
}

/// [`refusing_limit`] for a segment of `size` bytes.
fn shm_refusal(size: u64, kind: ErrorKind) -> Option<String> {
    let limits = info::shm_limits().ok()?;
    let usage = info::shm_usage().ok()?;
    let page = info::page_size() as u64;
    let pages = size.div_ceil(page);
    match kind {
        ErrorKind::InvalidArgument if size > limits.shmmax => Some(format!(
            "refused by shmmax, the largest segment: {} bytes",
            limits.shmmax
        )),
        ErrorKind::InvalidArgument if size < limits.shmmin => Some(format!(
            "refused by shmmin, the smallest segment: {} bytes",
            limits.shmmin
        )),
        ErrorKind::LimitExceeded
            if usage
                .pages
                .checked_add(pages)
                .is_none_or(|p| p > limits.shmall) =>
        {
            Some(format!(
                "refused by shmall, the most shared memory in all segments: {} pages of {page} \
                 bytes ({} in use; this segment needs {pages})",
                limits.shmall, usage.pages
            ))
        }
        ErrorKind::LimitExceeded if usage.segments >= limits.shmmni => Some(format!(
            "refused by shmmni, the most segments: {} ({} in use)",
            limits.shmmni, usage.segments
        )),
        ErrorKind::OutOfMemory => Some(format!(
            "no System V limit refused it (shmmax is {} bytes, shmall {} pages): the kernel \
             would not reserve {size} bytes of memory, more than its RAM and swap can back \
             (see vm.overcommit_memory)",
            limits.shmmax, limits.shmall
        )),
        _ => None,
    }
}

/// [`refusing_limit`] for a set of `count` semaphores.
fn sem_refusal(count: u64, kind: ErrorKind) -> Option<String> {
    let limits = info::sem_limits().ok()?;
    let usage = info::sem_usage().ok()?;
    match kind {
        ErrorKind::InvalidArgument if count > limits.semmsl => Some(format!(
            "refused by semmsl, the most semaphores in one set: {}",
            limits.semmsl
        )),
        ErrorKind::LimitExceeded
            if usage
                .semaphores
                .checked_add(count)
                .is_none_or(|n| n > limits.semmns) =>
        {
            Some(format!(
                "refused by semmns, the most semaphores in all sets: {} ({} in use; this set \
                 needs {count})",
                limits.semmns, usage.semaphores
            ))
        }
        ErrorKind::LimitExceeded if usage.sets >= limits.semmni => Some(format!(
            "refused by semmni, the most sets: {} ({} in use)",
            limits.semmni, usage.sets
        )),
        _ => None,
    }
}

/// Parses a size in bytes: a number with an optional suffix, `K`/`KiB` (1024), `M`/`MiB`,
/// `G`/`GiB`, `T`/`TiB`, or `KB`/`MB`/`GB`/`TB` (powers of 1000), as util-linux reads
/// sizes. At least 1.
///
/// # Errors
/// A message for clap to show after the value.
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    let bad = || "expected a size in bytes, like 4096, 64K, 1MiB or 1MB".to_owned();
    if digits.is_empty() {
        return Err(bad());
    }
    let number: u64 = digits
        .parse()
        .map_err(|_| "the size is too large".to_owned())?;
    let exponent = |unit: char| "KMGT".find(unit).map(|i| i as u32 + 1);
    let multiplier: u64 = match suffix.as_bytes() {
        [] => 1,
        [u] | [u, b'i', b'B'] => exponent(char::from(*u).to_ascii_uppercase())
            .map(|e| 1024u64.pow(e))
            .ok_or_else(bad)?,
        [u, b'B'] => exponent(char::from(*u).to_ascii_uppercase())
            .map(|e| 1000u64.pow(e))
            .ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    let bytes = number
        .checked_mul(multiplier)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| "the size is too large".to_owned())?;
    if bytes == 0 {
        return Err("the size must be at least 1 byte".to_owned());
    }
    Ok(bytes)
}

/// Parses a count of semaphores: a number from 1.
///
/// # Errors
/// A message for clap to show after the value.
pub(crate) fn parse_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("a set needs at least 1 semaphore".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a number of semaphores, like 1".to_owned()),
    }
}

/// Parses permission bits in octal: `600`, `0600` or `0o600`, at most `777`.
///
/// # Errors
/// A message for clap to show after the value.
pub(crate) fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let bad = || "expected permission bits in octal, from 0 to 777 (like 600)".to_owned();
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4KB"), Ok(4000));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        for bad in [
            "",
            "0",
            "K",
            "4X",
            "4KiBx",
            "-1",
            "1.5M",
            "99999999999999999999",
            "99999999T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn modes_and_counts() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("0o644"), Ok(0o644));
        assert_eq!(parse_mode("0"), Ok(0));
        for bad in ["", "800", "1777", "rw", "0x1ff", "-600"] {
            assert!(parse_mode(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("0").is_err());
        assert!(parse_count("x").is_err());
    }
}
