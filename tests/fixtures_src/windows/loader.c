/* Loads an extension module the way CPython 3.8+ does on Windows, then calls its entry point.
 * usage: loader.exe MODULE ENTRY [DLL_DIRECTORY | @DLL]...
 * Each DLL_DIRECTORY is added with AddDllDirectory (what os.add_dll_directory calls); each @DLL is
 * preloaded as ctypes.WinDLL(path) does in Python 3.8+ (the loader hook's preloads); the module
 * is loaded with LoadLibraryExW(LOAD_LIBRARY_SEARCH_DEFAULT_DIRS | LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR)
 * (Python/dynload_win.c). ENTRY is called as int(void) and its value printed. */
#include <stdio.h>
#include <windows.h>

int wmain(int argc, wchar_t **argv) {
    if (argc < 3) { fprintf(stderr, "usage: loader MODULE ENTRY [DIR...]\n"); return 2; }
    const DWORD flags = LOAD_LIBRARY_SEARCH_DEFAULT_DIRS | LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR;
    for (int i = 3; i < argc; i++) {
        if (argv[i][0] == L'@') {
            if (!LoadLibraryExW(argv[i] + 1, NULL, flags)) { fprintf(stderr, "preload failed: %lu\n", GetLastError()); return 3; }
        } else if (!AddDllDirectory(argv[i])) {
            fprintf(stderr, "AddDllDirectory failed: %lu\n", GetLastError());
            return 3;
        }
    }
    HMODULE module = LoadLibraryExW(argv[1], NULL, flags);
    if (!module) { fprintf(stderr, "DLL load failed: error %lu\n", GetLastError()); return 4; }
    char entry[256];
    WideCharToMultiByte(CP_ACP, 0, argv[2], -1, entry, sizeof entry, NULL, NULL);
    int (*call)(void) = (int (*)(void))GetProcAddress(module, entry);
    if (!call) { fprintf(stderr, "no entry point %s\n", entry); return 5; }
    printf("%d\n", call());
    return 0;
}
