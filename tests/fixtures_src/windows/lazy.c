__declspec(dllexport) int lazy_value(void) { return 1000; }
