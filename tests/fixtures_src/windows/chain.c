__declspec(dllimport) int base_value(void);
__declspec(dllexport) int chain_value(void) { return base_value() + 2; }
