/* A Python-extension-like bundle (-bundle), as some Mach-O extension modules are linked. */
extern int foo(int);
int PyInit_ext(void) { return foo(41); }
