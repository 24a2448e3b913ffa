/* The entry point of the CRT-less (-nostdlib) arm64 build. */
int DllMainCRTStartup(void *instance, unsigned reason, void *reserved) {
    (void)instance;
    (void)reason;
    (void)reserved;
    return 1;
}
