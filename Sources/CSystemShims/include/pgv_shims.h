#ifndef PGV_SHIMS_H
#define PGV_SHIMS_H
#include "pgv_sha256.h"
#include "pgv_delta.h"
/* Linux calls that Swift's Glibc module does not import (they need _GNU_SOURCE). */
int pgv_syncfs(int fd);
/* renameat2(RENAME_NOREPLACE): rename that fails with EEXIST instead of replacing. */
int pgv_rename_noreplace(const char *from, const char *to);
/* sync_file_range(SYNC_FILE_RANGE_WRITE): start writing back a range now, without waiting
   (the final fsync then has little left to do). Returns 0 where unsupported. */
int pgv_start_writeback(int fd, long long offset, long long length);
/* Serve allocations up to 32 MiB from the heap (reused) instead of fresh mmap()s that are
   page-faulted in again on every chunk, from two arenas shared by all threads. A no-op where
   mallopt does not exist. */
void pgv_tune_malloc(void);
#endif
