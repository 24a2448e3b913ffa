/* The entry point of a freestanding DLL (no CRT): for targets without a mingw runtime here (arm64). */
int DllMainCRTStartup(void *instance, unsigned reason, void *reserved) {
    (void)instance;
    (void)reason;
    (void)reserved;
    return 1;
}
