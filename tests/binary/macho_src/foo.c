/* libfoo: a dependency-free dylib, linked with -install_name @rpath/libfoo.dylib. */
int foo(int x) { return x + 1; }
