/* A DLL importing foo.dll, KERNEL32.dll, USER32.dll and (through the mingw CRT) msvcrt.dll. */
#include <stdio.h>
#include <windows.h>

__declspec(dllimport) int foo_add(int a, int b);

__declspec(dllexport) int user_call(int a) {
    char text[32];
    snprintf(text, sizeof text, "%d", foo_add(a, 1));
    MessageBoxA(NULL, text, "user", MB_OK);
    return (int)GetTickCount();
}
