/* A C-only "extension module" for the win32 and win_arm64 repairs: needs libchain.dll (-> libbase.dll). */
__declspec(dllimport) int chain_value(void);
__declspec(dllexport) int PyInit_ext(void) { return chain_value(); }
