/* libweak: a dylib that others link weakly (-weak_library), so it may be missing at run time. */
int weakfn(int x) { return x * 2; }
