/* A C peer for shmkit's semaphore and message queue interoperability tests: plain glibc
 * System V calls. Run by tests/c_peer_ipc.rs.
 *
 *   ipc_peer ftok       PATH PROJ           nothing more
 *   ipc_peer sem-create PATH PROJ V0 V1 V2 [V...]
 *                       create a set of that many semaphores exclusively (0600), SETALL the
 *                       values, apply {0,-2},{1,+3} in one semop, then {2,-1} with SEM_UNDO
 *                       (undone by the kernel at exit); print "id N" and "value2 V"
 *   ipc_peer sem-check  PATH PROJ V0 V1 V2 [V...]
 *                       open the set by key, check its size and values (GETALL), check that
 *                       a batch that cannot complete changes nothing, apply {0,-1},{1,+2};
 *                       print "id N" and "values ..."
 *   ipc_peer sem-wait   PATH PROJ           check semaphore 0 is 0, print "waiting", block
 *                                           until it can take 1, print "acquired VALUE"
 *   ipc_peer msg-send   PATH PROJ           create a queue exclusively (0600), send the
 *                                           message table; print "id N" and "sent COUNT"
 *   ipc_peer msg-recv   PATH PROJ           receive the table by the plan (msgtyp > 0, < 0,
 *                                           MSG_EXCEPT, E2BIG, MSG_NOERROR, 0), checking
 *                                           every message; print "got MTYPE SEQ LEN" each
 *
 * Every command first prints "key 0x%08x pid N" (from ftok(PATH, PROJ)), and "ok" last on
 * success. Exit status: 0 success, 2 usage, 3 a call failed, 4 a check failed, 5 the key is
 * taken. A command that fails after creating an object removes it. The message table, the
 * plan and the exit codes match tests/interop/mod.rs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <unistd.h>

/* glibc does not define it: semctl(2) says the caller must. */
union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

enum { EXIT_USAGE = 2, EXIT_CALL = 3, EXIT_MISMATCH = 4, EXIT_EXISTS = 5 };

#define MAX_SEMS 64
#define MAX_TEXT 8192
#define TRUNCATE_TO 100

/* (mtype, body length); seq = index. Text: "#<seq>:" + body. */
static const struct {
    long mtype;
    size_t len;
} MESSAGES[] = {{3, 10}, {1, 0}, {2, 300}, {1, 5}, {5, 4000}, {2, 1}, {4, 64}};
#define NMESSAGES (sizeof MESSAGES / sizeof MESSAGES[0])

struct msgbuf_text {
    long mtype;
    char mtext[MAX_TEXT];
};

/* An object this process created, removed if it fails. */
static int created_sem = -1, created_msg = -1;

static int cleanup_and(int status) {
    if (created_sem != -1) semctl(created_sem, 0, IPC_RMID);
    if (created_msg != -1) msgctl(created_msg, IPC_RMID, NULL);
    return status;
}

static int fail(const char *what) {
    fprintf(stderr, "ipc_peer: %s: %s\n", what, strerror(errno));
    return cleanup_and(EXIT_CALL);
}

static int mismatch(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("ipc_peer: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return cleanup_and(EXIT_MISMATCH);
}

static size_t message(size_t seq, char *text) {
    int n = sprintf(text, "#%zu:", seq);
    for (size_t i = 0; i < MESSAGES[seq].len; i++)
        text[n + i] = (char)(unsigned char)(seq * 29 + i * 13 + 1);
    return (size_t)n + MESSAGES[seq].len;
}

/* The seq of a received message checked against the table (or -1 after printing why);
 * `truncated_to` > 0 when the message may have been cut to that size. */
static long check_message(long mtype, const char *text, size_t len, size_t truncated_to) {
    unsigned long seq;
    char colon;
    if (len < 3 || sscanf(text, "#%lu%c", &seq, &colon) != 2 || colon != ':' ||
        seq >= NMESSAGES) {
        fprintf(stderr, "ipc_peer: not a table message\n");
        return -1;
    }
    static char want[MAX_TEXT + 16];
    size_t want_len = message(seq, want);
    if (truncated_to > 0 && want_len > truncated_to) want_len = truncated_to;
    if (mtype != MESSAGES[seq].mtype) {
        fprintf(stderr, "ipc_peer: message #%lu has type %ld, expected %ld\n", seq, mtype,
                MESSAGES[seq].mtype);
        return -1;
    }
    if (len != want_len) {
        fprintf(stderr, "ipc_peer: message #%lu has %zu bytes, expected %zu\n", seq, len,
                want_len);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] != want[i]) {
            fprintf(stderr, "ipc_peer: message #%lu: byte %zu is %u, expected %u\n", seq, i,
                    (unsigned char)text[i], (unsigned char)want[i]);
            return -1;
        }
    }
    return (long)seq;
}

static int parse_values(int argc, char **argv, unsigned short *values) {
    int n = argc - 4;
    if (n < 3 || n > MAX_SEMS) return -1;
    for (int i = 0; i < n; i++) values[i] = (unsigned short)strtoul(argv[4 + i], NULL, 10);
    return n;
}

static int semop_restarting(int id, struct sembuf *ops, size_t nops) {
    int rc;
    while ((rc = semop(id, ops, nops)) == -1 && errno == EINTR) {
    }
    return rc;
}

static int sem_create(key_t key, int n, const unsigned short *values) {
    int id = semget(key, n, IPC_CREAT | IPC_EXCL | 0600);
    if (id == -1) return errno == EEXIST ? EXIT_EXISTS : fail("semget");
    created_sem = id;
    union semun arg = {.array = (unsigned short *)values};
    if (semctl(id, 0, SETALL, arg) == -1) return fail("semctl(SETALL)");
    struct sembuf batch[2] = {{0, -2, 0}, {1, 3, 0}};
    if (semop_restarting(id, batch, 2) == -1) return fail("semop(batch)");
    struct sembuf undone = {2, -1, SEM_UNDO};
    if (semop_restarting(id, &undone, 1) == -1) return fail("semop(SEM_UNDO)");
    int v2 = semctl(id, 2, GETVAL);
    if (v2 == -1) return fail("semctl(GETVAL)");
    printf("id %d\nvalue2 %d\n", id, v2);
    created_sem = -1; /* the test owns it now */
    return 0;
}

static int sem_check(key_t key, int n, const unsigned short *want) {
    int id = semget(key, 0, 0);
    if (id == -1) return fail("semget");
    struct semid_ds ds;
    union semun arg = {.buf = &ds};
    if (semctl(id, 0, IPC_STAT, arg) == -1) return fail("semctl(IPC_STAT)");
    if ((int)ds.sem_nsems != n)
        return mismatch("the set has %lu semaphores, expected %d", (unsigned long)ds.sem_nsems,
                        n);
    if ((ds.sem_perm.mode & 0777) != 0600)
        return mismatch("mode %o, expected 600", (unsigned)(ds.sem_perm.mode & 0777));
    unsigned short got[MAX_SEMS];
    arg.array = got;
    if (semctl(id, 0, GETALL, arg) == -1) return fail("semctl(GETALL)");
    for (int i = 0; i < n; i++)
        if (got[i] != want[i])
            return mismatch("semaphore %d is %u, expected %u", i, got[i], want[i]);
    /* All or nothing: the second operation cannot proceed, so the first is not applied. */
    struct sembuf blocked[2] = {{0, 5, IPC_NOWAIT}, {2, (short)-(want[2] + 1), IPC_NOWAIT}};
    if (semop(id, blocked, 2) != -1 || errno != EAGAIN)
        return mismatch("a batch that cannot complete did not fail with EAGAIN");
    struct sembuf batch[2] = {{0, -1, IPC_NOWAIT}, {1, 2, IPC_NOWAIT}};
    if (semop_restarting(id, batch, 2) == -1) return fail("semop(batch)");
    if (semctl(id, 0, GETALL, arg) == -1) return fail("semctl(GETALL)");
    printf("id %d\nvalues", id);
    for (int i = 0; i < n; i++) printf(" %u", got[i]);
    printf("\n");
    return 0;
}

static int sem_wait(key_t key) {
    int id = semget(key, 0, 0);
    if (id == -1) return fail("semget");
    struct sembuf take = {0, -1, IPC_NOWAIT};
    if (semop(id, &take, 1) != -1 || errno != EAGAIN)
        return mismatch("semaphore 0 was not 0 before the handoff");
    printf("waiting\n");
    take.sem_flg = 0;
    if (semop_restarting(id, &take, 1) == -1) return fail("semop(wait)");
    int v = semctl(id, 0, GETVAL);
    if (v == -1) return fail("semctl(GETVAL)");
    printf("acquired %d\n", v);
    return 0;
}

static int msg_send(key_t key) {
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    if (id == -1) return errno == EEXIST ? EXIT_EXISTS : fail("msgget");
    created_msg = id;
    static struct msgbuf_text m;
    for (size_t seq = 0; seq < NMESSAGES; seq++) {
        m.mtype = MESSAGES[seq].mtype;
        size_t len = message(seq, m.mtext);
        if (msgsnd(id, &m, len, IPC_NOWAIT) == -1) return fail("msgsnd");
    }
    printf("id %d\nsent %zu\n", id, NMESSAGES);
    created_msg = -1;
    return 0;
}

static int msg_recv(key_t key) {
    int id = msgget(key, 0);
    if (id == -1) return fail("msgget");
    printf("id %d\n", id);
    static const struct {
        long msgtyp;
        int flags;
        size_t size;
        long want;
    } plan[] = {
        {2, 0, MAX_TEXT, 2},              /* exactly type 2 */
        {-2, 0, MAX_TEXT, 1},             /* lowest type <= 2 */
        {1, MSG_EXCEPT, MAX_TEXT, 0},     /* anything but type 1 */
        {-4, 0, MAX_TEXT, 3},             /* lowest type <= 4: the other type 1 */
        {5, 0, TRUNCATE_TO, -1},          /* too long: E2BIG, and it stays queued */
        {5, MSG_NOERROR, TRUNCATE_TO, 4}, /* taken, cut */
        {0, 0, MAX_TEXT, 5},              /* FIFO */
        {0, 0, MAX_TEXT, 6},
    };
    static struct msgbuf_text m;
    for (size_t step = 0; step < sizeof plan / sizeof plan[0]; step++) {
        ssize_t n = msgrcv(id, &m, plan[step].size, plan[step].msgtyp,
                           plan[step].flags | IPC_NOWAIT);
        if (plan[step].want < 0) {
            if (n != -1 || errno != E2BIG)
                return mismatch("step %zu: a too-long message did not fail with E2BIG", step);
            continue;
        }
        if (n == -1) return fail("msgrcv");
        size_t cut = (plan[step].flags & MSG_NOERROR) ? plan[step].size : 0;
        long seq = check_message(m.mtype, m.mtext, (size_t)n, cut);
        if (seq < 0) return cleanup_and(EXIT_MISMATCH);
        if (seq != plan[step].want)
            return mismatch("step %zu gave message #%ld, expected #%ld", step, seq,
                            plan[step].want);
        printf("got %ld %ld %zd\n", m.mtype, seq, n);
    }
    if (msgrcv(id, &m, MAX_TEXT, 0, IPC_NOWAIT) != -1 || errno != ENOMSG)
        return mismatch("the queue should be empty");
    printf("empty\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: ipc_peer COMMAND PATH PROJ [ARGS...]\n");
        return EXIT_USAGE;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* a test may read line by line while we block */
    const char *cmd = argv[1];
    key_t key = ftok(argv[2], atoi(argv[3]));
    if (key == -1) return fail("ftok");
    printf("key 0x%08x pid %d\n", (unsigned)key, (int)getpid());
    unsigned short values[MAX_SEMS];
    int status;
    if (strcmp(cmd, "ftok") == 0) {
        status = 0;
    } else if (strcmp(cmd, "sem-create") == 0 || strcmp(cmd, "sem-check") == 0) {
        int n = parse_values(argc, argv, values);
        if (n < 0) return EXIT_USAGE;
        status = strcmp(cmd, "sem-create") == 0 ? sem_create(key, n, values)
                                                 : sem_check(key, n, values);
    } else if (strcmp(cmd, "sem-wait") == 0) {
        status = sem_wait(key);
    } else if (strcmp(cmd, "msg-send") == 0) {
        status = msg_send(key);
    } else if (strcmp(cmd, "msg-recv") == 0) {
        status = msg_recv(key);
    } else {
        fprintf(stderr, "ipc_peer: unknown command %s\n", cmd);
        return EXIT_USAGE;
    }
    if (status == 0) printf("ok\n");
    return status;
}
