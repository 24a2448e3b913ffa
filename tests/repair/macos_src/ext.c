/* An extension-like bundle: needs libbar (Homebrew-style absolute install name) and, weakly, libweak. */
extern int bar(int);
extern int weakfn(int) __attribute__((weak_import));
int PyInit__ext(void) { return bar(41) + (weakfn ? weakfn(1) : 0); }
