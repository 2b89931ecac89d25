//! `lsipc` compared byte for byte (stdout, stderr, exit status) with util-linux 2.38.1's,
//! both run in the same private IPC namespace after the same setup (see `compat`).
//!
//! Every test runs a list of argument sets against one scenario and reports all the
//! differing ones at once. Without root (or without the real tools) the tests are skipped.

mod compat;

/// No objects at all.
const EMPTY: &str = "";

/// A few objects made with the real `ipcmk` (random keys).
const BASIC: &str = "
ipcmk -M 4096 -p 0644 >/dev/null
ipcmk -M 2000000 -p 0600 >/dev/null
ipcmk -Q >/dev/null
ipcmk -S 3 >/dev/null
";

/// Objects of many sizes, modes, keys (IPC_PRIVATE, negative, the largest), owners that
/// have no name or a long one, other creators, a locked segment, queues holding messages,
/// semaphore sets with values, and ids above 32768; made by one Python process.
const MIXED: &str = r#"
py '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
CREX = 0o3000
def next_id(kind, n):
    with open("/proc/sys/kernel/%s_next_id" % kind, "w") as f:
        f.write(str(n))
def as_user(uid, gid, fn):
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([]); os.setgid(gid); os.setuid(uid); fn()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
def shm(key, size, mode, uid=None, gid=None, extra=0):
    i = libc.shmget(key, size, CREX | mode | extra)
    assert i >= 0, ctypes.get_errno()
    if uid is not None or gid is not None:
        m = s.SharedMemory(key) if key else None
        if m is not None:
            if uid is not None: m.uid = uid
            if gid is not None: m.gid = gid
    return i
next_id("shm", 40000)
shm(0x1234, 4096, 0o644)
s.SharedMemory(None, s.IPC_CREX, 0o640, 1996)
shm(0x7fffffff, 1048576, 0o666, uid=997, gid=12345)
shm(-28916207, 1, 0o000, uid=54321)
m = s.SharedMemory(0x42424242, s.IPC_CREX, 0o777, 5000)
libc.shmctl(m.id, 11, None)
as_user(4242, 4343, lambda: shm(0, 8192, 0o600))
as_user(997, 998, lambda: shm(0x10, 16384, 0o604))
shm(0x11, 1073741824, 0o400, extra=0o10000)
shm(0x12, 5497558138880, 0o440, extra=0o10000)
shm(0x13, 1023, 0o200)
shm(0x14, 1536, 0o020)
shm(0x15, 2000000, 0o002)
shm(0x16, 1048577, 0o111)
next_id("msg", 70000)
q = s.MessageQueue(0x51, s.IPC_CREX, 0o620)
q.send(b"a" * 2000); q.send(b"b"); q.receive()
q = s.MessageQueue(None, s.IPC_CREX, 0o600); q.uid = 65534; q.gid = 54321
as_user(1000, 1000, lambda: s.MessageQueue(0x52, s.IPC_CREX, 0o660))
q = s.MessageQueue(0x53, s.IPC_CREX, 0o644, max_message_size=8192)
for i in range(7): q.send(b"x" * 1500, type=i + 1)
next_id("sem", 99999)
i = libc.semget(0x60, 4, CREX | 0o640)
for n, v in enumerate([0, 1, 3, 32767]): libc.semctl(i, n, 16, v)
m = s.Semaphore(0x61, s.IPC_CREX, 0o600, 7); m.uid = 997; m.gid = 999; m.release()
as_user(31337, 31338, lambda: libc.semget(0x62, 2, CREX | 0o666))
libc.semget(0, 1, CREX | 0o604)
'
"#;

/// Objects in use by live processes: a creator with an odd command line (tab, newline,
/// a literal `\x`, UTF-8), segments marked for destruction while attached (`dest`,
/// `dest,locked`), a semaphore set with values, processes blocked decrementing one
/// semaphore and waiting for another to reach zero, and a queue written by a live sender.
const HELD: &str = r#"
python3 -c 'import sysv_ipc as s, signal
m = s.SharedMemory(0x99, s.IPC_CREX, 0o600, 100)
q = s.MessageQueue(0x98, s.IPC_CREX, 0o600)
q.send(b"hello")
signal.pause()' 'a\x41b' "$(printf 'tab\tnl\nx')" 'é日本' > /dev/null 2>&1 &
__pids+=($!); disown
until [ "$(awk '$1 == 152 {print $5}' /proc/sysvipc/msg)" = 1 ]; do sleep 0.02; done
d1=$(ipcmk -M 300 | awk '{print $NF}')
hold_shm "$d1"
ipcrm -m "$d1"
d2=$(py 'm = s.SharedMemory(0x97, s.IPC_CREX, 0o640, 70000)
import ctypes; ctypes.CDLL(None).shmctl(m.id, 11, None); print(m.id)')
hold_shm "$d2"
ipcrm -m "$d2"
sem=$(ipcmk -S 4 -p 0666 | awk '{print $NF}')
python3 - "$sem" > /dev/null 2>&1 <<'PY' &
import ctypes, signal, sys
libc = ctypes.CDLL(None)
class sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short), ("sem_flg", ctypes.c_short)]
sem = int(sys.argv[1])
libc.semctl(sem, 3, 16, 32767)
ops = (sembuf * 2)(sembuf(2, 3, 0), sembuf(0, 2, 0))
libc.semop(sem, ops, 2)
zero = sembuf(2, 0, 0)
import os
if os.fork() == 0:
    libc.prctl(1, 9)
    libc.semop(sem, ctypes.byref(zero), 1)
    os._exit(0)
signal.pause()
PY
__pids+=($!); disown
until [ "$(awk -v id=$sem 'NR>1 && $2==id {print $9}' /proc/sysvipc/sem)" != "0" ]; do sleep 0.02; done
wait_sem "$sem" 1
wait_sem "$sem" 1
until [ "$(py "import ctypes; l = ctypes.CDLL(None); print(l.semctl($sem, 1, 14), l.semctl($sem, 2, 15))")" = "2 1" ]; do
  sleep 0.02
done
"#;

/// `setup` with the directory of the scenarios' Python interpreter first in `PATH`, so
/// that the prelude's helpers use it (see `compat::python_path_line`).
fn fast_python(setup: &str) -> String {
    format!("{}{setup}", compat::python_path_line())
}

/// Runs `lsipc` with each argument set after `setup` (each in a fresh namespace), with
/// `env` added; fails with the first difference after listing every differing case.
fn check_env(setup: &str, env: &[(&str, &str)], cases: &[&[&str]]) {
    if !compat::available() {
        return;
    }
    let setup = fast_python(setup);
    let mut failures = Vec::new();
    for args in cases {
        let (real, ours) = compat::compare("lsipc", &setup, args, env);
        if real != ours {
            failures.push((args, real, ours));
        }
    }
    eprintln!(
        "lsipc: {} of {} cases identical (env {env:?})",
        cases.len() - failures.len(),
        cases.len()
    );
    if let Some((args, real, ours)) = failures.first() {
        for (a, _, _) in &failures {
            eprintln!("differs: lsipc {a:?}");
        }
        compat::assert_same(&format!("lsipc {args:?} (env {env:?})"), real, ours);
    }
}

fn check(setup: &str, cases: &[&[&str]]) {
    check_env(setup, &[], cases);
}

#[test]
fn no_objects() {
    check(
        EMPTY,
        &[
            &[],
            &["-m"],
            &["-q"],
            &["-s"],
            &["-m", "-J"],
            &["-q", "-J"],
            &["-s", "-J"],
            &["-m", "-r"],
            &["-q", "-e"],
            &["-s", "-n"],
            &["-m", "-g"],
            &["-q", "-g", "-J"],
            &["-s", "-i", "0"],
            &["-m", "-i", "0", "-J"],
            &["-q", "-i", "-5"],
            &["-s", "-i", "-5", "-J"],
            &["-J"],
            &["-r"],
        ],
    );
}

#[test]
fn global_overview() {
    check(
        BASIC,
        &[
            &[],
            &["-g"],
            &["-m", "-g"],
            &["-q", "--global"],
            &["-s", "-g"],
            &["-b"],
            &["-b", "-m", "-g"],
            &["-J"],
            &["-e"],
            &["-n"],
            &["-r"],
            &["-l"],
            &["--noheadings"],
            &["--noheadings", "-r"],
            &["--notruncate"],
            &["-y"],
            &["-y", "-r"],
            &["-y", "-e"],
            &["-y", "-J"],
            &["-y", "-o", "USE%,RESOURCE"],
            &["-o", "RESOURCE,USE%"],
            &["-o", "+USED,limit"],
            &["-o", "description"],
            &["-m", "-g", "-t"],
            &["-m", "-g", "-c", "-J"],
            &["-q", "-g", "-o", "+KEY,CTIME"],
            &["-s", "-g", "-o", "+NSEMS"],
        ],
    );
}

#[test]
fn listings_default_columns_and_modes() {
    let mut cases: Vec<Vec<&str>> = Vec::new();
    for res in ["-m", "-q", "-s"] {
        for extra in [
            &[][..],
            &["-c"],
            &["-t"],
            &["-c", "-t"],
            &["-P"],
            &["-P", "-c"],
            &["-b"],
            &["-J"],
            &["-J", "-c", "-t"],
            &["-r"],
            &["-r", "-t"],
            &["-e"],
            &["-e", "-c"],
            &["-n"],
            &["--noheadings"],
            &["--notruncate"],
            &["-l"],
            &["-y", "-r"],
        ] {
            cases.push([&[res][..], extra].concat());
        }
    }
    cases.push(vec!["-m", "-m"]);
    cases.push(vec!["--shmems", "--bytes", "--numeric-perms", "--raw"]);
    let cases: Vec<&[&str]> = cases.iter().map(Vec::as_slice).collect();
    check(MIXED, &cases);
}

#[test]
fn every_column() {
    const GENERIC: &str = "KEY,ID,OWNER,PERMS,CUID,CUSER,CGID,CGROUP,UID,USER,GID,GROUP,CTIME";
    check(
        MIXED,
        &[
            &["-m", "-o", GENERIC],
            &["-q", "-o", GENERIC],
            &["-s", "-o", GENERIC],
            &[
                "-m",
                "-o",
                "SIZE,NATTCH,STATUS,ATTACH,DETACH,COMMAND,CPID,LPID",
            ],
            &["-q", "-o", "USEDBYTES,MSGS,SEND,RECV,LSPID,LRPID"],
            &["-s", "-o", "NSEMS,OTIME"],
            &["-m", "-o", "+CUSER,CGROUP,USER,GROUP,ATTACH,DETACH"],
            &["-q", "-o", "+SEND,RECV,CTIME,cuser,Cgroup"],
            &["-s", "-o", "+otime,ctime,user,group"],
            &["-m", "-o", "key,Id,size,size,KEY"],
            &["-m", "-o", "STATUS,KEY"],
            &["-m", "-o", "COMMAND,KEY"],
            &["-m", "-o", "CGID,CUID", "-J"],
            &["-q", "-o", "PERMS,CGID", "-P", "-e"],
            &["-s", "-o", "PERMS,CGID,CGROUP", "-P", "-r"],
            &["-m", "-o", "KEY", "-o", "ID"],
            &["-m", "-c", "-o", "+SIZE"],
            &["-s", "-m", "-o", "NSEMS"],
        ],
    );
}

#[test]
fn time_formats_and_zones() {
    let cases: &[&[&str]] = &[
        &["-m", "-t"],
        &["-m", "-t", "--time-format=short"],
        &["-m", "-t", "--time-format", "full"],
        &["-m", "-t", "--time-format=iso"],
        &["-q", "-t", "--time-format=iso"],
        &["-s", "-t", "--time-format=full"],
        &["-q", "-i", "70000", "--time-format=iso"],
        &["-m", "-i", "40000", "--time-format=short"],
        &["-s", "-i", "99999", "--time-format=iso", "-t"],
    ];
    check(MIXED, cases);
    check_env(MIXED, &[("TZ", "Asia/Kolkata")], cases);
    check_env(MIXED, &[("TZ", "America/New_York")], cases);
}

#[test]
fn specific_ids() {
    check(
        MIXED,
        &[
            &["-m", "-i", "40000"],
            &["-m", "-i", "0"],
            &["-m", "--id", "4"],
            &["-m", "-i", "5"],
            &["-q", "-i", "70000"],
            &["-q", "-i", "0"],
            &["-q", "-i", "0", "-P"],
            &["-s", "-i", "99999"],
            &["-s", "-i", "0"],
            &["-s", "-i", "1"],
            &["-s", "-i", "2", "-y"],
            &["-m", "-i", "40000", "-l"],
            &["-m", "-i", "40000", "-J"],
            &["-q", "-i", "70000", "-r"],
            &["-s", "-i", "99999", "-e"],
            &["-s", "-i", "99999", "-n"],
            &["-s", "-i", "99999", "-l"],
            &["-m", "-i", "40000", "-c"],
            &["-q", "-i", "70000", "-t"],
            &["-s", "-i", "99999", "-c", "-t"],
            &["-m", "-i", "40000", "-o", "KEY,SIZE"],
            &["-s", "-i", "99999", "-o", "+KEY"],
            &["-m", "-i", "40000", "--noheadings"],
            &["-m", "-i", "12345"],
            &["-q", "-i", "12345", "-J"],
            &["-s", "-i", "12345"],
            &["-s", "-i", "12345", "-J"],
            &["-m", "-i", "-1"],
            &["-m", "-i", "-2"],
            &["-m", "-i", "-2", "-l"],
            &["-q", "-i", "-7"],
            &["-s", "-i", "-3"],
            &["-s", "-i", "-3", "-J"],
            &["-mi40000"],
            &["--shmems", "--id=40000", "--time-format=iso"],
        ],
    );
}

#[test]
fn objects_in_use() {
    check(
        HELD,
        &[
            &["-m"],
            &["-m", "-t", "-c"],
            &["-m", "-r"],
            &["-m", "-e"],
            &["-m", "-n"],
            &["-m", "-J"],
            &["-m", "-i", "0"],
            &["-m", "-i", "1"],
            &["-m", "-i", "2", "-J"],
            &["-m", "-o", "COMMAND,STATUS,NATTCH,KEY"],
            &["-q"],
            &["-q", "-i", "0"],
            &["-s"],
            &["-s", "-i", "0"],
            &["-s", "-i", "0", "-J"],
            &["-s", "-t", "-J"],
            &[],
        ],
    );
}

#[test]
fn bad_input() {
    check(
        BASIC,
        &[
            &["-m", "-o", "FOO"],
            &["-m", "-o", "KEY,FOO,ID"],
            &["-m", "-o", "nsems,ID"],
            &["-q", "-o", "SIZE"],
            &["-s", "-o", "+LSPID"],
            &["-o", "KEY,SIZE"],
            &["-m", "-g", "-o", "SIZE,KEY"],
            &["-m", "-o", "KEY,"],
            &["-m", "-o", ""],
            &["-m", "-o", "+"],
            &["-m", "-o", ",KEY"],
            &["-m", "-o", "KEY,,ID"],
            &["--output="],
            &["-m", "-o"],
            &["-m", "-i", "abc"],
            &["-m", "-i", ""],
            &["-m", "-i", "1 "],
            &["-m", "-i", "99999999999"],
            &["-m", "-i", "-2147483649"],
            &["-Z"],
            &["-m", "-x", "-q"],
            &["--foo"],
            &["--foo=bar"],
            &["--s"],
            &["--n"],
            &["--no"],
            &["--t"],
            &["--json=yes"],
            &["--id"],
            &["--time-format=bad"],
            &["--time-format"],
            &["-m", "--time-format=ISO"],
            &["-J", "-e"],
            &["-m", "-r", "-n"],
            &["-l", "-m", "-J"],
            &["-m", "-q"],
            &["-s", "--shmems"],
            &["-g", "-i", "0"],
            &["-m", "-i", "0", "-g"],
            &["-m", "-o", "KEY", "-t"],
            &["-m", "-t", "-o", "KEY"],
            &["-m", "-c", "-t"],
            &["-m", "-c", "-o", "KEY"],
            &["-t"],
            &["-c"],
            &["-i", "0"],
            &["-i", "-1"],
            &["-i", "-3"],
            &["-m", "-m", "-m", "-m", "-m", "-m", "-m"],
            &[
                "-s", "-s", "-s", "-s", "-s", "-s", "-s", "-s", "-s", "-s", "-s", "-s", "-s", "-s",
            ],
            &["-m", "-m", "-m", "-m", "-m", "-m", "-o", "+KEY,ID,OWNER"],
            &["-m", "-V"],
            &["--version"],
            &["--vers=3"],
            &["-m", "stray", "words"],
            &["-m", "--", "-q"],
        ],
    );
}

#[test]
fn column_limits() {
    let many = |name: &str, n: usize| vec![name; n].join(",");
    let (k57, k58) = (
        format!("+{}", many("KEY", 57)),
        format!("+{}", many("KEY", 58)),
    );
    let (i34, i35) = (
        format!("+{}", many("id", 34)),
        format!("+{}", many("id", 35)),
    );
    let all68 = many("KEY", 68);
    let all69 = many("KEY", 69);
    check(
        BASIC,
        &[
            &["-m", "-o", &k57],
            &["-m", "-o", &k58],
            &["-m", "-o", &all68],
            &["-m", "-o", &all69],
            &["-m", "-i", "0", "-o", &i34],
            &["-m", "-i", "0", "-o", &i35],
            &["-s", "-i", "-4", "-o", &i34],
        ],
    );
}
