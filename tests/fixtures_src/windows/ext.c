/* An "extension module": PyInit_ext is what the loader program calls (no Python needed). It needs
 * libchain.dll (which needs libbase.dll), libcxx.dll (C++ runtime DLLs) and, delay-loaded, lazy.dll. */
__declspec(dllimport) int chain_value(void);
__declspec(dllimport) int cxx_len(void);
__declspec(dllimport) int lazy_value(void);
__declspec(dllexport) int PyInit_ext(void) { return chain_value() * 100 + cxx_len() + lazy_value() * 10; }
