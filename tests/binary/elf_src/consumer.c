/* Needs libbase.so (DT_NEEDED) and finds it through RPATH or RUNPATH. */
extern int base_value(void);
int consumer_value(void) { return base_value() + 1; }
