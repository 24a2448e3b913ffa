/* A library an executable needs (DT_NEEDED libdep.so.1); the writer renames and moves it. */
int dep_value(void) { return 41; }
