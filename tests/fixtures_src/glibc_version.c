/* A shared library needing one glibc symbol version chosen with -DNEED_<major>_<minor>. */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <time.h>

#if defined(NEED_2_14)
/* memcpy@GLIBC_2.14 (x86_64: the 2.14 memcpy that no longer tolerates overlap). */
__asm__(".symver memcpy,memcpy@GLIBC_2.14");
void *copy(void *dst, const void *src, size_t n) { return memcpy(dst, src, n); }
#elif defined(NEED_2_28)
/* fcntl64@GLIBC_2.28 (new in glibc 2.28). */
#include <fcntl.h>
int flags(int fd) { return fcntl64(fd, F_GETFL); }
#elif defined(NEED_2_30)
/* pthread_mutex_clocklock@GLIBC_2.30 (glibc >= 2.34 defaults to its GLIBC_2.34 alias). */
__asm__(".symver pthread_mutex_clocklock,pthread_mutex_clocklock@GLIBC_2.30");
int lock(pthread_mutex_t *m, const struct timespec *t) { return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, t); }
#elif defined(NEED_2_34)
/* pthread_create moved into libc.so.6 in glibc 2.34: pthread_create@GLIBC_2.34. */
static void *body(void *arg) { return arg; }
int spawn(pthread_t *t) { return pthread_create(t, 0, body, 0); }
#else
int plain(int x) { return x + 1; }
#endif
