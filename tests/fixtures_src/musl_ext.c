/* An extension for a musl wheel, linked -nostdlib against a stand-in libc.musl-<arch>.so.1. */
extern int musl_value(int);
int PyInit_ext(void) { return musl_value(1); }
