/* A C peer for shmkit's robust-mutex interoperability tests: glibc's own
 * pthread_mutex_lock / pthread_mutex_unlock / pthread_mutex_consistent on the
 * pthread_mutex_t inside a shmkit RobustMutex<[u64; 3]> (the value [a, b, count], whose
 * invariant is a == b), in a System V segment given by its id.
 *
 *   robust_peer count SHMID MUTEX_OFF DATA_OFF N
 *       N times: lock, check a == b, move a away and back (b = a + 1), count += 1, unlock;
 *       print "ok N" (an owner-died lock is repaired and marked consistent, and counted)
 *   robust_peer hold SHMID MUTEX_OFF DATA_OFF
 *       lock (repairing an owner-died lock), count += 1, break the invariant (a != b),
 *       print "holding", then keep moving a until killed
 *   robust_peer hold-until-line SHMID MUTEX_OFF DATA_OFF
 *       lock, print "holding", read a line from stdin, unlock, print "released"
 *   robust_peer lock SHMID MUTEX_OFF DATA_OFF
 *       print "locking 0x<address of the lock word>", lock once, print one of
 *       "clean", "owner-died broken", "owner-died intact", "notrecoverable",
 *       "error <errno name>"; an owner-died lock is repaired (b = a) and marked
 *       consistent; the lock is released before exiting
 *   robust_peer drop-inconsistent SHMID MUTEX_OFF DATA_OFF
 *       lock, expect EOWNERDEAD, unlock without marking consistent (the mutex becomes not
 *       recoverable), print "dropped"
 *
 * Exit status: 0 success, 2 usage, 3 a call failed, 4 a check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

static pthread_mutex_t *mutex;
static volatile uint64_t *value;

static void say(const char *line) {
    printf("%s\n", line);
    fflush(stdout);
}

static const char *errno_name(int e) {
    switch (e) {
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    case EDEADLK: return "EDEADLK";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case EBUSY: return "EBUSY";
    default: return "other";
    }
}

static int failed(const char *what, int rc) {
    fprintf(stderr, "robust_peer: %s: %s (%s)\n", what, strerror(rc), errno_name(rc));
    return 3;
}

/* Locks; an owner-died lock is repaired and marked consistent. Returns 0, or the error. */
static int lock_repairing(int *owner_died, int *was_broken) {
    int rc = pthread_mutex_lock(mutex);
    *owner_died = rc == EOWNERDEAD;
    *was_broken = 0;
    if (rc == EOWNERDEAD) {
        *was_broken = value[0] != value[1];
        value[1] = value[0];
        rc = pthread_mutex_consistent(mutex);
    }
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: robust_peer OP SHMID MUTEX_OFF DATA_OFF [N]\n");
        return 2;
    }
    const char *op = argv[1];
    int id = atoi(argv[2]);
    size_t mutex_off = strtoul(argv[3], NULL, 10);
    size_t data_off = strtoul(argv[4], NULL, 10);
    char *base = shmat(id, NULL, 0);
    if (base == (void *)-1) {
        fprintf(stderr, "robust_peer: shmat: %s\n", strerror(errno));
        return 3;
    }
    mutex = (pthread_mutex_t *)(base + mutex_off);
    value = (volatile uint64_t *)(base + data_off);
    int owner_died, broken, rc;

    if (strcmp(op, "count") == 0 && argc == 6) {
        long n = atol(argv[5]);
        for (long i = 0; i < n; i++) {
            rc = lock_repairing(&owner_died, &broken);
            if (rc != 0) return failed("pthread_mutex_lock", rc);
            if (!owner_died && value[0] != value[1]) {
                fprintf(stderr, "robust_peer: round %ld: the invariant is broken inside the lock "
                        "(a=%llu b=%llu): mutual exclusion failed\n",
                        i, (unsigned long long)value[0], (unsigned long long)value[1]);
                return 4;
            }
            value[0] = value[0] + 1;
            for (int s = 0; s < 50; s++) __asm__ volatile("pause");
            value[1] = value[0];
            value[2] = value[2] + 1;
            rc = pthread_mutex_unlock(mutex);
            if (rc != 0) return failed("pthread_mutex_unlock", rc);
        }
        printf("ok %ld\n", n);
        return 0;
    }
    if (strcmp(op, "hold") == 0) {
        rc = lock_repairing(&owner_died, &broken);
        if (rc != 0) return failed("pthread_mutex_lock", rc);
        value[2] = value[2] + 1;
        value[0] = value[1] + 1;
        say("holding");
        for (;;) {
            uint64_t a = value[0] + 1;
            if (a == value[1]) a++;
            value[0] = a;
            __asm__ volatile("pause");
        }
    }
    if (strcmp(op, "hold-until-line") == 0) {
        rc = lock_repairing(&owner_died, &broken);
        if (rc != 0) return failed("pthread_mutex_lock", rc);
        say("holding");
        char line[64];
        if (!fgets(line, sizeof line, stdin)) return 2;
        rc = pthread_mutex_unlock(mutex);
        if (rc != 0) return failed("pthread_mutex_unlock", rc);
        say("released");
        return 0;
    }
    if (strcmp(op, "lock") == 0) {
        printf("locking %p\n", (void *)mutex);
        fflush(stdout);
        rc = pthread_mutex_lock(mutex);
        if (rc == ENOTRECOVERABLE) {
            say("notrecoverable");
            return 0;
        }
        if (rc == EOWNERDEAD) {
            broken = value[0] != value[1];
            value[1] = value[0];
            int c = pthread_mutex_consistent(mutex);
            if (c != 0) return failed("pthread_mutex_consistent", c);
            say(broken ? "owner-died broken" : "owner-died intact");
        } else if (rc == 0) {
            say("clean");
        } else {
            printf("error %s\n", errno_name(rc));
            return 0;
        }
        rc = pthread_mutex_unlock(mutex);
        if (rc != 0) return failed("pthread_mutex_unlock", rc);
        return 0;
    }
    if (strcmp(op, "drop-inconsistent") == 0) {
        rc = pthread_mutex_lock(mutex);
        if (rc != EOWNERDEAD) return failed("pthread_mutex_lock (expected EOWNERDEAD)", rc);
        rc = pthread_mutex_unlock(mutex);
        if (rc != 0) return failed("pthread_mutex_unlock", rc);
        say("dropped");
        return 0;
    }
    return 2;
}
