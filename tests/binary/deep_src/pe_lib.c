/* deeplib.dll: two named exports and an exported variable; deep_ordinal is imported by ordinal
 * only (pe_lib.def), so it needs no export here. */
__declspec(dllexport) int deep_add(int a, int b) { return a + b; }
__declspec(dllexport) int deep_mul(int a, int b) { return a * b; }
__declspec(dllexport) int deep_data = 7;
int deep_ordinal(void) { return 9; }
