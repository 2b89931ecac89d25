//! `ipcrm`, as util-linux 2.38.1 behaves (see the project's `shared/docs/util-linux.md`,
//! §3): the old syntax `ipcrm shm|msg|sem ID...`, removal by id (`-m/-q/-s`) and by key
//! (`-M/-Q/-S`) in command-line order, `-a` after the options, and the kernel's errors
//! turned into util-linux's words.

use super::common::{each_option, strtoul, Exit, Flow, Tool};
use super::getopt::{HasArg, LongOpt};
use shmkit::{Key, MessageQueue, MsgId, Segment, SemId, SemaphoreSet, ShmId};

const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const EACCES: i32 = 13;
const EINVAL: i32 = 22;
const ERANGE: i32 = 34;
const EIDRM: i32 = 43;

/// The long options, in util-linux's table order (it matters for the ambiguity message).
const LONG: &[LongOpt] = &[
    LongOpt::new("shmem-id", HasArg::Required, 'm' as i32),
    LongOpt::new("shmem-key", HasArg::Required, 'M' as i32),
    LongOpt::new("queue-id", HasArg::Required, 'q' as i32),
    LongOpt::new("queue-key", HasArg::Required, 'Q' as i32),
    LongOpt::new("semaphore-id", HasArg::Required, 's' as i32),
    LongOpt::new("semaphore-key", HasArg::Required, 'S' as i32),
    LongOpt::new("all", HasArg::Optional, 'a' as i32),
    LongOpt::new("verbose", HasArg::No, 'v' as i32),
    LongOpt::new("version", HasArg::No, 'V' as i32),
    LongOpt::new("help", HasArg::No, 'h' as i32),
];

/// The three kinds of System V IPC object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Shm,
    Msg,
    Sem,
}

impl Kind {
    /// The old syntax's first word.
    fn from_word(word: &str) -> Option<Kind> {
        match word {
            "shm" => Some(Kind::Shm),
            "msg" => Some(Kind::Msg),
            "sem" => Some(Kind::Sem),
            _ => None,
        }
    }
}

/// An object handle from the library, ready to be removed.
enum Object {
    Shm(Segment),
    Msg(MessageQueue),
    Sem(SemaphoreSet),
}

impl Object {
    /// `shmctl/msgctl/semctl(IPC_RMID)`; the errno on failure.
    fn remove(&self) -> Result<(), i32> {
        let result = match self {
            Object::Shm(o) => o.remove(),
            Object::Msg(o) => o.remove(),
            Object::Sem(o) => o.remove(),
        };
        result.map_err(|e| errno_of(&e))
    }

    /// The object with this id, through `IPC_STAT` (which, like `SHM_STAT`, needs read
    /// permission).
    fn from_id(kind: Kind, id: i32) -> Result<Object, i32> {
        let result = match kind {
            Kind::Shm => Segment::from_id(ShmId::from_raw(id)).map(Object::Shm),
            Kind::Msg => MessageQueue::from_id(MsgId::from_raw(id)).map(Object::Msg),
            Kind::Sem => SemaphoreSet::from_id(SemId::from_raw(id)).map(Object::Sem),
        };
        result.map_err(|e| errno_of(&e))
    }

    /// The object with this key (`shmget(key, 0, 0)`, `msgget(key, 0)`,
    /// `semget(key, 0, 0)`: no permission is needed).
    fn open(kind: Kind, key: Key) -> Result<Object, i32> {
        let result = match kind {
            Kind::Shm => Segment::open(key).map(Object::Shm),
            Kind::Msg => MessageQueue::open(key).map(Object::Msg),
            Kind::Sem => SemaphoreSet::open(key).map(Object::Sem),
        };
        result.map_err(|e| errno_of(&e))
    }

    fn id(&self) -> i32 {
        match self {
            Object::Shm(o) => o.id().raw(),
            Object::Msg(o) => o.id().raw(),
            Object::Sem(o) => o.id().raw(),
        }
    }
}

/// The errno of a library error (EINVAL for the library's own argument checks, which the
/// values used here never trip).
fn errno_of(e: &shmkit::Error) -> i32 {
    e.raw_os_error().unwrap_or(EINVAL)
}

/// The ids of every object of a kind, in index order (`None` when the kernel has no
/// System V IPC of that kind).
fn list_ids(kind: Kind) -> Option<Vec<i32>> {
    match kind {
        Kind::Shm => shmkit::info::segments()
            .ok()
            .map(|v| v.iter().map(|s| s.id.raw()).collect()),
        Kind::Msg => shmkit::info::message_queues()
            .ok()
            .map(|v| v.iter().map(|s| s.id.raw()).collect()),
        Kind::Sem => shmkit::info::semaphore_sets()
            .ok()
            .map(|v| v.iter().map(|s| s.id.raw()).collect()),
    }
}

/// `IPC_RMID` on a bare id, as util-linux calls it: no `IPC_STAT` first, so the owner of
/// an object it may not read still removes it.
fn remove_by_id(kind: Kind, id: i32) -> Result<(), i32> {
    let object = match kind {
        Kind::Shm => Object::Shm(Segment::from_id_unchecked(ShmId::from_raw(id))),
        Kind::Msg => Object::Msg(MessageQueue::from_id_unchecked(MsgId::from_raw(id))),
        Kind::Sem => Object::Sem(SemaphoreSet::from_id_unchecked(SemId::from_raw(id))),
    };
    object.remove()
}

/// The state of one run.
struct Ipcrm {
    verbose: bool,
}

impl Ipcrm {
    /// util-linux's `remove_id`: the verbose line, the removal, and the warning on failure.
    /// `Ok(true)` when the removal failed (counted as an error); an unexpected errno ends
    /// the program. `object` is the handle when the caller already has it.
    fn remove_id(
        &self,
        tool: &mut Tool,
        kind: Kind,
        iskey: bool,
        id: i32,
        object: Option<Object>,
    ) -> Flow<bool> {
        if self.verbose {
            let what = match kind {
                Kind::Shm => "shared memory segment",
                Kind::Msg => "message queue",
                Kind::Sem => "semaphore",
            };
            tool.print(&format!("removing {what} id `{id}'\n"));
        }
        let result = match object {
            Some(object) => object.remove(),
            None => remove_by_id(kind, id),
        };
        let errno = match result {
            Ok(()) => return Ok(false),
            Err(errno) => errno,
        };
        let what = if iskey { "key" } else { "id" };
        let message = match errno {
            EACCES | EPERM => "permission denied for",
            EINVAL => "invalid",
            EIDRM => "already removed",
            _ => return Err(tool.err(&format!("{what} failed"), errno)),
        };
        tool.warnx(&format!("{message} {what} ({id})"));
        Ok(true)
    }

    /// `-M/-Q/-S KEY`: the lookup, then the removal with the "key" wording. `Ok(true)` on
    /// an error.
    fn remove_key(&self, tool: &mut Tool, kind: Kind, text: &str) -> Flow<bool> {
        let key = Key::from_raw(strtokey(tool, text)? as i32);
        if key.is_private() {
            tool.warnx(&format!("illegal key ({text})"));
            return Ok(true);
        }
        match Object::open(kind, key) {
            Ok(object) => {
                let id = object.id();
                self.remove_id(tool, kind, true, id, Some(object))
            }
            Err(errno) => {
                let message = match errno {
                    EACCES => "permission denied for key",
                    EIDRM => "already removed key",
                    ENOENT => "invalid key",
                    _ => return Err(tool.err("key failed", errno)),
                };
                tool.warnx(&format!("{message} ({text})"));
                Ok(true)
            }
        }
    }

    /// `-a`: every object of the requested kinds, shm, then sem, then msg. Objects this
    /// process may not read are skipped, as `SHM_STAT` skips them. `Ok(true)` if any
    /// removal failed.
    fn remove_all(&self, tool: &mut Tool, only: Option<Kind>) -> Flow<bool> {
        let mut failed = false;
        for kind in [Kind::Shm, Kind::Sem, Kind::Msg] {
            if only.is_some_and(|k| k != kind) {
                continue;
            }
            let Some(ids) = list_ids(kind) else {
                let what = match kind {
                    Kind::Shm => "shared memory",
                    Kind::Msg => "message queues",
                    Kind::Sem => "semaphores",
                };
                return Err(tool.errx(&format!("kernel not configured for {what}")));
            };
            for id in ids {
                let Ok(object) = Object::from_id(kind, id) else {
                    continue;
                };
                failed |= self.remove_id(tool, kind, false, id, Some(object))?;
            }
        }
        Ok(failed)
    }
}

/// Whether glibc's `setlocale(LC_ALL, "")` leaves `errno` at ENOENT: it does whenever
/// some category names a locale other than `C`/`POSIX` (it looks for a locale archive
/// that this system does not have).
fn setlocale_leaves_enoent() -> bool {
    const CATEGORIES: [&str; 12] = [
        "LC_CTYPE",
        "LC_NUMERIC",
        "LC_TIME",
        "LC_COLLATE",
        "LC_MONETARY",
        "LC_MESSAGES",
        "LC_PAPER",
        "LC_NAME",
        "LC_ADDRESS",
        "LC_TELEPHONE",
        "LC_MEASUREMENT",
        "LC_IDENTIFICATION",
    ];
    let get = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let all = get("LC_ALL");
    let lang = get("LANG");
    CATEGORIES.iter().any(|category| {
        let value = all
            .clone()
            .or_else(|| get(category))
            .or_else(|| lang.clone());
        value.is_some_and(|v| v != "C" && v != "POSIX")
    })
}

/// util-linux's `strtokey`: C `strtoul(text, &end, 0)`; any error ends the program with
/// `failed to parse argument: 'TEXT'` (plus strerror when errno is set; for the empty
/// string that errno is whatever the start-up left behind).
fn strtokey(tool: &mut Tool, text: &str) -> Flow<u64> {
    let message = format!("failed to parse argument: '{text}'");
    if text.is_empty() {
        if setlocale_leaves_enoent() {
            return Err(tool.err(&message, ENOENT));
        }
        return Err(tool.errx(&message));
    }
    let (value, consumed, overflow) = strtoul(text, 0);
    if overflow {
        return Err(tool.err(&message, ERANGE));
    }
    if consumed == 0 || consumed != text.len() {
        return Err(tool.errx(&message));
    }
    Ok(value)
}

/// The old syntax: `ipcrm shm|msg|sem ID...` (no options; ids parsed with C `strtoul`
/// and truncated to `int`).
fn deprecated_main(tool: &mut Tool, kind: Kind, words: &[String]) -> Flow {
    if words.is_empty() {
        tool.warnx("not enough arguments");
        return Err(tool.try_help());
    }
    let ipcrm = Ipcrm { verbose: false };
    let mut errors = 0;
    for word in words {
        let (value, consumed, overflow) = strtoul(word, 10);
        if overflow || consumed != word.len() {
            tool.warnx(&format!("invalid id: {word}"));
            errors += 1;
        } else if ipcrm.remove_id(tool, kind, false, value as i32, None)? {
            errors += 1;
        }
    }
    if errors > 0 {
        return Err(Exit(1));
    }
    tool.print("resource(s) deleted\n");
    Ok(())
}

fn usage(tool: &mut Tool) -> Exit {
    let name = tool.name.clone();
    tool.print(&format!(
        "\
Usage:
 {name} [options]
 {name} shm|msg|sem <id>...

Remove System V IPC objects: shared memory segments, message queues and
semaphore sets, by id or by key.

Options:
 -m, --shmem-id <id>        remove the shared memory segment with this id
 -M, --shmem-key <key>      remove the shared memory segment with this key
 -q, --queue-id <id>        remove the message queue with this id
 -Q, --queue-key <key>      remove the message queue with this key
 -s, --semaphore-id <id>    remove the semaphore set with this id
 -S, --semaphore-key <key>  remove the semaphore set with this key
 -a, --all[=shm|msg|sem]    remove everything (of one kind) this user may read
 -v, --verbose              tell what is being removed

 -h, --help                 show this help and exit
 -V, --version              show the version and exit

Removals happen in the order given. Keys are decimal, 0x-prefixed hex or
0-prefixed octal.
"
    ));
    Exit(0)
}

/// Runs `ipcrm` with `args` (`args[0]` is the name it was invoked by).
pub(crate) fn main(tool: &mut Tool, args: Vec<String>) -> Flow {
    if args.len() <= 1 {
        return Ok(());
    }
    if let Some(kind) = Kind::from_word(&args[1]) {
        return deprecated_main(tool, kind, &args[2..]);
    }
    let mut ipcrm = Ipcrm { verbose: false };
    let mut errors = 0u32;
    let mut all: Option<Option<Kind>> = None;
    let getopt = tool.getopt(args, "q:m:s:Q:M:S:a::vhV", LONG);
    let operands = each_option(tool, getopt, |tool, c, arg| {
        let text = arg.as_deref().unwrap_or_default();
        let c = u8::try_from(c).map_or('\0', char::from);
        let failed = match c {
            'm' | 'q' | 's' => {
                let kind = match c {
                    'm' => Kind::Shm,
                    'q' => Kind::Msg,
                    _ => Kind::Sem,
                };
                let id = tool.s32(text, "failed to parse argument")?;
                ipcrm.remove_id(tool, kind, false, id, None)?
            }
            'M' | 'Q' | 'S' => {
                let kind = match c {
                    'M' => Kind::Shm,
                    'Q' => Kind::Msg,
                    _ => Kind::Sem,
                };
                ipcrm.remove_key(tool, kind, text)?
            }
            'a' => {
                // The last -a wins; a value must be attached (`-ashm`, `--all=shm`).
                all = Some(match arg.as_deref() {
                    None => None,
                    Some("shm") => Some(Kind::Shm),
                    Some("msg") => Some(Kind::Msg),
                    Some("sem") => Some(Kind::Sem),
                    Some(other) => return Err(tool.errx(&format!("unknown argument: {other}"))),
                });
                false
            }
            'v' => {
                ipcrm.verbose = true;
                false
            }
            'h' => return Err(usage(tool)),
            'V' => return Err(tool.version()),
            _ => return Err(tool.try_help()),
        };
        if failed {
            errors += 1;
        }
        Ok(())
    })?;
    if let Some(only) = all {
        if ipcrm.remove_all(tool, only)? {
            errors += 1;
        }
    }
    if let Some(first) = operands.first() {
        tool.warnx(&format!("unknown argument: {first}"));
        return Err(tool.try_help());
    }
    if errors > 0 {
        Err(Exit(1))
    } else {
        Ok(())
    }
}
