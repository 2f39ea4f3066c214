#ifndef PGV_SHIMS_H
#define PGV_SHIMS_H
/* Linux calls that Swift's Glibc module does not import (they need _GNU_SOURCE). */
int pgv_syncfs(int fd);
/* renameat2(RENAME_NOREPLACE): rename that fails with EEXIST instead of replacing. */
int pgv_rename_noreplace(const char *from, const char *to);
/* Serve allocations up to 32 MiB from the heap (reused) instead of fresh mmap()s that are
   page-faulted in again on every chunk. A no-op where mallopt does not exist. */
void pgv_tune_malloc(void);
#endif
