/* A DLL a Windows extension needs: foo.dll (or FOO.DLL, or mypkg.libs/foo.dll). */
__declspec(dllexport) int dep_value(int x) { return x + 1; }
