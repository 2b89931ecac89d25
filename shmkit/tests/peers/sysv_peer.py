#!/usr/bin/env python3
"""A Python peer for shmkit's interoperability tests, built on the sysv_ipc package from
PyPI (pip install sysv-ipc). Run by tests/python_peer.rs.

    sysv_peer.py COMMAND PATH PROJ [ARGS...]

The key is sysv_ipc.ftok(PATH, PROJ). Every command first prints "key 0x%08x pid N", then
its own lines, and "ok" last on success.

    ftok                    nothing more
    shm-create SIZE         create a segment exclusively (0600), fill it with pattern A;
                            print "id N"
    shm-check SIZE          open the segment, check its size and pattern B, then write
                            pattern A over it; print "id N"
    sem-ops                 open a set (value 5 in semaphore 0) and operate on semaphore 0:
                            acquire, release, refused no-wait ops, set the value, an undone op
    sem-create VALUE        create a semaphore exclusively (0600) with this value; "id N"
    sem-expect VALUE PID    check the semaphore's value and the pid of its last operation
    sem-wait                check the semaphore is 0, print "waiting", block until it can
                            be acquired, print "acquired VALUE"
    sem-post                create a semaphore (0), print "id N", wait until a process
                            waits on it, release it, print "released"
    msg-recv                receive the message table by type selection (no waiting),
                            checking every message; print "got MTYPE SEQ LEN" for each
    msg-send                create a queue exclusively (0600), send the table; "id N"
    msg-echo                print "ready", then answer every type-1 message with its bytes
                            reversed as type 2, until "quit" (answered with type 3 "bye")

Exit status: 0 success, 2 usage, 3 a call failed, 4 a check failed, 5 the key is taken.
The message table, the patterns and the exit codes match tests/interop/mod.rs.
"""

import os
import sys
import traceback

import sysv_ipc

EXIT_USAGE, EXIT_CALL, EXIT_MISMATCH, EXIT_EXISTS = 2, 3, 4, 5

# (mtype, body length); seq = index. Text: b"#<seq>:" + body.
MESSAGES = [(3, 10), (1, 0), (2, 300), (1, 5), (5, 4000), (2, 1), (4, 64)]
MAX_MESSAGE = 8192


class Mismatch(Exception):
    pass


class KeyTaken(Exception):
    pass


def say(*words):
    print(*words, flush=True)


def check(condition, what):
    if not condition:
        raise Mismatch(what)


def pattern_a(i):
    return (i * 31 + 7) & 0xFF


def pattern_b(i):
    return (i * 17 + 3) & 0xFF


def message(seq):
    mtype, length = MESSAGES[seq]
    body = bytes((seq * 29 + i * 13 + 1) & 0xFF for i in range(length))
    return mtype, b"#%d:" % seq + body


def check_message(text, mtype):
    """The seq of a received message, checked against the table."""
    head, sep, _ = text.partition(b":")
    is_table = sep and head.startswith(b"#") and head[1:].isdigit()
    check(is_table, "not a table message: %r" % text[:16])
    seq = int(head[1:])
    check(seq < len(MESSAGES), "no message #%d in the table" % seq)
    want_type, want_text = message(seq)
    check(mtype == want_type, "message #%d has type %d, expected %d" % (seq, mtype, want_type))
    check(
        len(text) == len(want_text),
        "message #%d has %d bytes, expected %d" % (seq, len(text), len(want_text)),
    )
    for i, (got, want) in enumerate(zip(text, want_text)):
        check(got == want, "message #%d: byte %d is %d, expected %d" % (seq, i, got, want))
    return seq


def create_exclusively(make, key):
    try:
        return make(key, sysv_ipc.IPC_CREX)
    except sysv_ipc.ExistentialError:
        raise KeyTaken()


def removing_on_failure(obj, body):
    """Runs body(); if it fails, removes obj (which this peer created) and re-raises."""
    try:
        body()
    except BaseException:
        try:
            obj.remove()
        except Exception:
            pass
        raise


def cmd_ftok(key):
    pass


def cmd_shm_create(key, size):
    size = int(size)
    mem = create_exclusively(lambda k, f: sysv_ipc.SharedMemory(k, f, mode=0o600, size=size), key)

    def fill():
        mem.write(bytes(pattern_a(i) for i in range(size)), 0)
        mem.detach()
        say("id", mem.id)

    removing_on_failure(mem, fill)


def cmd_shm_check(key, size):
    size = int(size)
    mem = sysv_ipc.SharedMemory(key)
    check(mem.size == size, "the segment has %d bytes, expected %d" % (mem.size, size))
    data = mem.read(size, 0)
    for i, byte in enumerate(data):
        check(byte == pattern_b(i), "byte %d is %d, expected %d" % (i, byte, pattern_b(i)))
    mem.write(bytes(pattern_a(i) for i in range(size)), 0)
    mem.detach()
    say("id", mem.id)


def cmd_sem_ops(key):
    sem = sysv_ipc.Semaphore(key)  # semget(key, 1, 0600): semaphore 0 of the set
    say("id", sem.id)
    check(sem.value == 5, "semaphore 0 is %d, expected 5" % sem.value)
    sem.acquire()  # 4
    sem.acquire(delta=3)  # 1
    sem.release(delta=10)  # 11
    check(sem.value == 11, "after -1, -3, +10 the value is %d, expected 11" % sem.value)
    sem.block = False  # IPC_NOWAIT
    for what, op in (("acquire(12)", lambda: sem.acquire(delta=12)), ("Z()", sem.Z)):
        try:
            op()
        except sysv_ipc.BusyError:
            pass
        else:
            raise Mismatch("%s on a semaphore of 11 did not report busy" % what)
    check(sem.value == 11, "a refused operation changed the value to %d" % sem.value)
    sem.block = True
    sem.value = 40  # SETVAL
    sem.release(delta=2)  # 42
    sem.undo = True  # SEM_UNDO: the kernel gives these 2 back when this process exits
    sem.acquire(delta=2)  # 40 until exit
    say("value", sem.value)


def cmd_sem_create(key, value):
    sem = create_exclusively(
        lambda k, f: sysv_ipc.Semaphore(k, f, mode=0o600, initial_value=int(value)), key
    )
    removing_on_failure(sem, lambda: say("id", sem.id))


def cmd_sem_expect(key, value, pid):
    sem = sysv_ipc.Semaphore(key)
    check(sem.value == int(value), "the value is %d, expected %s" % (sem.value, value))
    check(sem.last_pid == int(pid), "the last operation was by %d, not %s" % (sem.last_pid, pid))
    say("id", sem.id)


def cmd_sem_wait(key):
    sem = sysv_ipc.Semaphore(key)
    sem.block = False
    try:
        sem.acquire()
    except sysv_ipc.BusyError:
        pass
    else:
        raise Mismatch("the semaphore was not 0 before the handoff")
    sem.block = True
    say("waiting")
    sem.acquire()
    say("acquired", sem.value)


def cmd_sem_post(key):
    sem = create_exclusively(
        lambda k, f: sysv_ipc.Semaphore(k, f, mode=0o600, initial_value=0), key
    )

    def post():
        say("id", sem.id)
        # Wait (through the kernel's own count) until the other side blocks on it; give up
        # if the test process goes away.
        parent = os.getppid()
        while sem.waiting_for_nonzero == 0:
            check(os.getppid() == parent, "the test process went away")
            os.sched_yield()
        sem.release()
        say("released")

    # Failing after "id" also removes it: that wakes the test if it is blocked on it.
    removing_on_failure(sem, post)


def cmd_msg_recv(key):
    queue = sysv_ipc.MessageQueue(key, max_message_size=MAX_MESSAGE)
    say("id", queue.id)
    # (type argument of receive, expected seq): sysv_ipc has no MSG_EXCEPT.
    plan = [(2, 2), (-2, 1), (-2, 3), (0, 0), (5, 4), (-3, 5), (0, 6)]
    for mtype, want in plan:
        text, got_type = queue.receive(block=False, type=mtype)
        seq = check_message(text, got_type)
        check(seq == want, "receive(type=%d) gave message #%d, expected #%d" % (mtype, seq, want))
        say("got", got_type, seq, len(text))
    try:
        queue.receive(block=False)
    except sysv_ipc.BusyError:
        say("empty")
    else:
        raise Mismatch("the queue should be empty")


def cmd_msg_send(key):
    queue = create_exclusively(
        lambda k, f: sysv_ipc.MessageQueue(k, f, mode=0o600, max_message_size=MAX_MESSAGE), key
    )

    def send():
        for seq in range(len(MESSAGES)):
            mtype, text = message(seq)
            queue.send(text, block=False, type=mtype)
        say("id", queue.id)
        say("sent", len(MESSAGES))

    removing_on_failure(queue, send)


def cmd_msg_echo(key):
    queue = sysv_ipc.MessageQueue(key, max_message_size=MAX_MESSAGE)
    say("ready")
    count = 0
    while True:
        text, _ = queue.receive(type=1)
        if text == b"quit":
            queue.send(b"bye", type=3)
            break
        queue.send(text[::-1], type=2)
        count += 1
    say("echoed", count)


COMMANDS = {
    "ftok": cmd_ftok,
    "shm-create": cmd_shm_create,
    "shm-check": cmd_shm_check,
    "sem-ops": cmd_sem_ops,
    "sem-create": cmd_sem_create,
    "sem-expect": cmd_sem_expect,
    "sem-wait": cmd_sem_wait,
    "sem-post": cmd_sem_post,
    "msg-recv": cmd_msg_recv,
    "msg-send": cmd_msg_send,
    "msg-echo": cmd_msg_echo,
}


def main(argv):
    if len(argv) < 4 or argv[1] not in COMMANDS:
        print("usage: sysv_peer.py %s PATH PROJ [ARGS...]" % "|".join(COMMANDS), file=sys.stderr)
        return EXIT_USAGE
    command, path, proj, args = argv[1], argv[2], int(argv[3]), argv[4:]
    try:
        key = sysv_ipc.ftok(path, proj, True)  # True: silence the "not recommended" warning
        say("key", "0x%08x" % (key & 0xFFFFFFFF), "pid", os.getpid())
        COMMANDS[command](key, *args)
    except KeyTaken:
        print("sysv_peer: %s: the key is taken" % command, file=sys.stderr)
        return EXIT_EXISTS
    except Mismatch as e:
        print("sysv_peer: %s: %s" % (command, e), file=sys.stderr)
        return EXIT_MISMATCH
    except Exception:
        traceback.print_exc()
        return EXIT_CALL
    say("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
