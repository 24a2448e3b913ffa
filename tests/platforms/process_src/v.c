/* libv.so.1: v_old at V_1.0; the newer build adds v_new at V_2.0 (see v_old.map, v_new.map). */
int v_old(void) { return 1; }
#ifdef NEW
int v_new(void) { return 2; }
#endif
