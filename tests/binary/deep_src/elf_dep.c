/* libdep.so: what libdeep.so imports besides libc. */
int dep_value(void) { return 42; }
int dep_counter = 0;
