/* An executable (MH_EXECUTE) using libfoo. */
extern int foo(int);
int main(void) { return foo(1); }
