/* A C peer for shmkit's interoperability tests: plain glibc System V calls.
 *
 *   shm_peer ftok   PATH PROJ            print ftok(PATH, PROJ) as 0x%08x
 *   shm_peer create PATH PROJ SIZE       create the segment exclusively (0600), fill it with
 *                                        pattern A, print its shmid
 *   shm_peer check  PATH PROJ SIZE       open the segment by key, attach read-only, verify
 *                                        pattern B over SIZE bytes
 * Exit status: 0 success, 2 usage, 3 a call failed, 4 pattern mismatch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

static unsigned char pattern_a(size_t i) { return (unsigned char)(i * 31u + 7u); }
static unsigned char pattern_b(size_t i) { return (unsigned char)(i * 17u + 3u); }

static int fail(const char *what) {
    fprintf(stderr, "shm_peer: %s: %s\n", what, strerror(errno));
    return 3;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: shm_peer ftok|create|check PATH PROJ [SIZE]\n");
        return 2;
    }
    const char *cmd = argv[1];
    int proj = atoi(argv[3]);
    key_t key = ftok(argv[2], proj);
    if (strcmp(cmd, "ftok") == 0) {
        if (key == -1) return fail("ftok");
        printf("0x%08x\n", (unsigned)key);
        return 0;
    }
    if (argc < 5) return 2;
    size_t size = strtoul(argv[4], NULL, 10);
    if (key == -1) return fail("ftok");
    if (strcmp(cmd, "create") == 0) {
        int id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
        if (id == -1) return fail("shmget");
        unsigned char *p = shmat(id, NULL, 0);
        if (p == (void *)-1) return fail("shmat");
        for (size_t i = 0; i < size; i++) p[i] = pattern_a(i);
        if (shmdt(p) == -1) return fail("shmdt");
        printf("%d\n", id);
        return 0;
    }
    if (strcmp(cmd, "check") == 0) {
        int id = shmget(key, 0, 0);
        if (id == -1) return fail("shmget");
        const unsigned char *p = shmat(id, NULL, SHM_RDONLY);
        if (p == (void *)-1) return fail("shmat");
        for (size_t i = 0; i < size; i++) {
            if (p[i] != pattern_b(i)) {
                fprintf(stderr, "shm_peer: byte %zu is %u, expected %u\n", i, p[i], pattern_b(i));
                return 4;
            }
        }
        if (shmdt(p) == -1) return fail("shmdt");
        printf("ok %d\n", id);
        return 0;
    }
    return 2;
}
