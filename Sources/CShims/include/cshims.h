// Small C helpers for what Swift cannot reach directly (GNU-only or variadic calls).
#ifndef BLACKBOX_CSHIMS_H
#define BLACKBOX_CSHIMS_H

/// Names the calling thread (pthread_setname_np needs _GNU_SOURCE, which Swift's Glibc omits).
int blackbox_set_thread_name(const char *name);

#endif
