/* Exports symbols under two versions (see versioned.map): gives the file a DT_VERDEF chain. */
int v1_func(void) { return 1; }
int v2_func(void) { return 2; }
