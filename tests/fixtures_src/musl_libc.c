/* A stand-in for musl's libc (SONAME libc.musl-<arch>.so.1): there is no musl toolchain here. */
int musl_value(int x) { return x; }
