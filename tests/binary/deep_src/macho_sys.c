/* A stand-in for /usr/lib/libSystem.B.dylib (no macOS SDK here): dyld_stub_binder, which
 * ld64.lld needs for lazy binding, and two functions for libdeep to import. */
void stub_binder(void) __asm__("dyld_stub_binder");
void stub_binder(void) {}
int sys_value(void) { return 1; }
int sys_other(void) { return 2; }
