/* A Windows extension module. Its imports come from import libraries made by llvm-dlltool from
 * .def files written at test time: foo.dll (or FOO.DLL with -DONLY_DEP), python312.dll,
 * vcruntime140.dll, msvcp140.dll and missing.dll (delay-loaded); KERNEL32.dll directly. */
#include <windows.h>

__declspec(dllimport) int dep_value(int);
#ifndef ONLY_DEP
__declspec(dllimport) int py_value(void);
__declspec(dllimport) int vcrt_value(void);
__declspec(dllimport) int msvcp_value(void);
__declspec(dllimport) int missing_value(void);
#endif

__declspec(dllexport) int PyInit__ext(void) {
#ifdef ONLY_DEP
    return dep_value(1);
#else
    return dep_value(1) + py_value() + vcrt_value() + msvcp_value() + missing_value() + (int)GetTickCount();
#endif
}
