//! `shmkit rm`: remove objects by id or key, or every stale one (see
//! [`objects`] for what stale means); `--dry-run` says what would go.
//!
//! With `--stale` and ids or keys, only those of them that are stale are removed; the
//! others are kept and listed as such. Each object is looked at again right before its
//! removal: one whose id now names another object (the kernel reuses ids) is not removed,
//! and with `--stale` one that is no longer stale is kept.
//!
//! Text: one line per object, `removed <kind> id <id> key <key>` (`would remove` with
//! `--dry-run`, `kept ... (not stale)` for a selected object that is not stale), labelled
//! as `mk`'s lines are.
//! JSON: `{"dry_run": bool, "removed": [...], "kept": [...], "failed": [...]}`, each
//! element `{"kind", "id", "key", "key_raw"}`, a failure with `"error"` (and only
//! `"error"` when the object could not be found). Every failure is also reported on
//! standard error as `shmkit: ...`; the others are still removed, and the exit status is 1.

use super::{Error, Out, Result};
use crate::format;
use crate::objects::{self, Kind, Kinds, Object, Processes, Stale};
use serde_json::{Map, Value};
use shmkit::Key;
use std::io::{self, Write};

/// What to remove.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    /// Objects by kind and id.
    pub(crate) ids: Vec<(Kind, i32)>,
    /// Objects by key (of any kind; a key that names objects of several kinds is an error).
    pub(crate) keys: Vec<Key>,
    /// Only stale objects: every stale object, or the stale ones among `ids` and `keys`.
    pub(crate) stale: bool,
    /// Say what would be removed, remove nothing.
    pub(crate) dry_run: bool,
}

/// What happened to each object, for the JSON report.
#[derive(Debug, Default)]
struct Report {
    removed: Vec<Value>,
    kept: Vec<Value>,
    failed: Vec<Value>,
}

impl Report {
    /// Records a failure and reports it on standard error at once.
    fn fail(&mut self, object: Option<&Object>, error: &Error) {
        let _ = writeln!(io::stderr(), "shmkit: {error}");
        let mut map = object.map(format::object_ref_json).unwrap_or_default();
        map.insert("error".into(), error.to_string().into());
        self.failed.push(Value::Object(map));
    }
}

/// Removes what `request` selects.
///
/// # Errors
/// [`Error::Reported`] when any object could not be found or removed (each failure was
/// printed already); write errors.
pub(crate) fn run(out: &mut Out, request: &Request, json: bool) -> Result<()> {
    let procs = Processes::new();
    let mut report = Report::default();
    let explicit = !request.ids.is_empty() || !request.keys.is_empty();

    let mut targets: Vec<Object> = Vec::new();
    for &(kind, id) in &request.ids {
        match objects::by_id(kind, id, &procs) {
            Ok(object) => targets.push(object),
            Err(e) => report.fail(None, &e),
        }
    }
    for &key in &request.keys {
        // With --stale a key selects every object it names (only stale ones go); without,
        // a key that names objects of several kinds is too vague to remove anything by.
        let found = if request.stale {
            objects::by_key(Kinds::all(), key, &procs)
        } else {
            let how = "remove it by id instead (--shm, --sem or --msg ID)";
            objects::one_by_key(Kinds::all(), key, &procs, how).map(|o| vec![o])
        };
        match found {
            Ok(found) => targets.extend(found),
            Err(e) => report.fail(None, &e),
        }
    }
    if request.stale && !explicit {
        targets = objects::list(Kinds::all(), &procs)?
            .into_iter()
            .filter(|o| o.stale() == Stale::Yes)
            .collect();
    }
    let mut seen = std::collections::HashSet::new();
    targets.retain(|o| seen.insert((o.kind(), o.id())));

    for target in &targets {
        if request.stale && target.stale() != Stale::Yes {
            keep(out, &mut report, target, json)?;
            continue;
        }
        if request.dry_run {
            say(out, "would remove", target, json)?;
            report
                .removed
                .push(Value::Object(format::object_ref_json(target)));
            continue;
        }
        // Look again: the object may have changed, or gone, since it was selected.
        let current = match objects::by_id(target.kind(), target.id(), &procs) {
            Ok(current) => current,
            // Someone else removed a stale object meanwhile: nothing left to do.
            Err(_) if request.stale && !explicit => continue,
            Err(e) => {
                report.fail(Some(target), &e);
                continue;
            }
        };
        if current.identity() != target.identity() {
            let e = Error::Message(format!(
                "{} id {} now names another object; not removed",
                target.kind().noun(),
                target.id()
            ));
            report.fail(Some(target), &e);
            continue;
        }
        if request.stale && current.stale() != Stale::Yes {
            keep(out, &mut report, &current, json)?;
            continue;
        }
        match current.remove() {
            Ok(()) => {
                say(out, "removed", &current, json)?;
                report
                    .removed
                    .push(Value::Object(format::object_ref_json(&current)));
            }
            Err(e) if request.stale && !explicit && objects::is_gone(&e) => {}
            Err(e) => report.fail(Some(&current), &e.into()),
        }
    }

    if json {
        let mut map = Map::new();
        map.insert("dry_run".into(), request.dry_run.into());
        map.insert("removed".into(), Value::Array(report.removed));
        map.insert("kept".into(), Value::Array(report.kept));
        let failed = !report.failed.is_empty();
        map.insert("failed".into(), Value::Array(report.failed));
        out.json(&Value::Object(map), false)?;
        return if failed { Err(Error::Reported) } else { Ok(()) };
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Reported)
    }
}

/// Prints `<what> <kind> id <id> key <key>`, unless the output is JSON.
fn say(out: &mut Out, what: &str, object: &Object, json: bool) -> Result<()> {
    if json {
        return Ok(());
    }
    out.line(format_args!(
        "{what} {} id {} key {}",
        object.kind().name(),
        object.id(),
        object.key()
    ))
}

/// Records and prints an object kept because it is not stale.
fn keep(out: &mut Out, report: &mut Report, object: &Object, json: bool) -> Result<()> {
    report
        .kept
        .push(Value::Object(format::object_ref_json(object)));
    if json {
        return Ok(());
    }
    let why = match object.stale() {
        Stale::Unknown => "cannot tell whether it is stale",
        _ => "not stale",
    };
    out.line(format_args!(
        "kept {} id {} key {} ({why})",
        object.kind().name(),
        object.id(),
        object.key()
    ))
}
