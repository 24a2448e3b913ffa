/* A freestanding DLL (no CRT) for targets without a mingw runtime here: arm64 and armv7. */
__declspec(dllimport) int foo_add(int a, int b);

__declspec(dllexport) int bare_call(int a) { return foo_add(a, 1); }

int DllMainCRTStartup(void *instance, unsigned reason, void *reserved) {
    (void)instance;
    (void)reason;
    (void)reserved;
    return 1;
}
