/* libbar: depends on libfoo (strongly) and libweak (weakly), finds them through LC_RPATH. */
extern int foo(int);
extern int weakfn(int) __attribute__((weak_import));
int bar(int x) { return foo(x) + (weakfn ? weakfn(x) : 0); }
