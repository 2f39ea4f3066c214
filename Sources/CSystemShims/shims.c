#define _GNU_SOURCE
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>
#include <errno.h>
#include <sys/syscall.h>
#include "pgv_shims.h"

int pgv_syncfs(int fd) { return syncfs(fd); }

int pgv_start_writeback(int fd, long long offset, long long length) {
#ifdef SYNC_FILE_RANGE_WRITE
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length; return 0;
#endif
}

int pgv_rename_noreplace(const char *from, const char *to) {
#ifdef SYS_renameat2
    long r = syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */);
    if (r == 0) return 0;
    if (errno != ENOSYS && errno != EINVAL) return -1;
#endif
    /* Fallback: link() never replaces; then drop the old name. */
    if (link(from, to) != 0) return -1;
    return unlink(from);
}

#if defined(__GLIBC__)
#include <malloc.h>
void pgv_tune_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);   /* and keep freed chunks for reuse */
    /* Two arenas, not eight per core: memory one thread frees is reused by the others, instead
       of each thread's arena keeping its own high-water mark (a delta backup of a 5.7 GB
       database: 155 MB peak RSS with the default, 138 MB with two; bench/README.md, P4). */
    mallopt(M_ARENA_MAX, 2);
}
#else
void pgv_tune_malloc(void) {}
#endif
