/* deepuser.dll: imports deeplib.dll by name (deep_add, deep_mul) and by ordinal (deep_ordinal),
 * and exports PyInit_deepuser like an extension module. */
__declspec(dllimport) int deep_add(int a, int b);
__declspec(dllimport) int deep_mul(int a, int b);
__declspec(dllimport) int deep_ordinal(void);

__declspec(dllexport) int PyInit_deepuser(void) { return deep_add(1, 2) + deep_mul(3, 4) + deep_ordinal(); }
