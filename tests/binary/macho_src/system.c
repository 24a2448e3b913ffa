/* A stand-in for /usr/lib/libSystem.B.dylib: there is no macOS SDK here, but ld64.lld needs
 * dyld_stub_binder (named without the C underscore) as soon as anything is lazily bound. */
void stub_binder(void) __asm__("dyld_stub_binder");
void stub_binder(void) {}
