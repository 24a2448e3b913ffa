/* libdeep.so: one symbol of every binding and visibility the deep reader tells apart. */
#include <stdio.h>

extern int dep_value(void);
extern int dep_counter;
extern void maybe_missing(void) __attribute__((weak)); /* weak undefined: still imported */

int exported_counter = 1;                                                /* GLOBAL OBJECT */
int deep_public(int x) { return x + dep_value() + dep_counter; }         /* GLOBAL FUNC */
__attribute__((weak)) int deep_weak(void) { return 2; }                  /* WEAK: exported */
__attribute__((visibility("protected"))) int deep_protected(void) { return 3; } /* exported */
__attribute__((visibility("hidden"))) int deep_hidden(void) { return 4; }       /* not exported */
static int deep_static(void) { return 5; }                                      /* LOCAL */

int deep_print(const char *s) {
    if (maybe_missing) maybe_missing();
    return puts(s) + deep_hidden() + deep_static();
}
