__declspec(dllexport) int base_value(void) { return 40; }
