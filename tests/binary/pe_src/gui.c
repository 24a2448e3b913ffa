/* A GUI program, linked with -mwindows (subsystem windows_gui). */
#include <windows.h>

int WINAPI WinMain(HINSTANCE instance, HINSTANCE previous, LPSTR command_line, int show) {
    (void)instance;
    (void)previous;
    (void)command_line;
    (void)show;
    return MessageBoxA(NULL, "gui", "gui", MB_OK);
}
