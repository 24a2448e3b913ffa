/* A plain shared library: gives the others something to need. */
int base_value(void) { return 42; }
