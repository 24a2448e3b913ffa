/* A DLL with an export directory: its Name is "foo.dll" (the output name). */
__declspec(dllexport) int foo_add(int a, int b) { return a + b; }
__declspec(dllexport) int foo_mul(int a, int b) { return a * b; }
