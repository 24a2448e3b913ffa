/* libdeep.dylib / deep.so: exports, a private (hidden) function, imports from libSystem. */
extern int sys_value(void);
extern int sys_other(void);

int deep_data = 7;
int deep_public(int x) { return x + sys_value(); }
__attribute__((visibility("hidden"))) int deep_hidden(void) { return sys_other(); }
int PyInit_deep(void) { return deep_hidden() + deep_data; }
