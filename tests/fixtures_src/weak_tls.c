/* How Rust's std and libstdc++ register thread-local destructors: an optional lookup of glibc's
 * __cxa_thread_atexit_impl (weak undefined, NULL on a glibc without it), with a fallback.
 * Built with -DSTRONG the reference is an ordinary (global) one, which fails to load there. */
#include <stddef.h>
#include <string.h>

#ifdef STRONG
extern int __cxa_thread_atexit_impl(void (*)(void *), void *, void *);
#else
extern int __cxa_thread_atexit_impl(void (*)(void *), void *, void *) __attribute__((weak));
#endif

static void destroy(void *p) { (void)p; }

int register_tls_dtor(void *object) {
    if (__cxa_thread_atexit_impl != NULL)
        return __cxa_thread_atexit_impl(destroy, object, NULL);
    return -1; /* the fallback path (a pthread key) would go here */
}

size_t name_length(const char *name) { return strlen(name); }
