/* One link of a library chain, for ELF and Mach-O: NAME calls CALLEE (defined by the next
 * library down the chain), or is the leaf when CALLEE is not defined. */
#ifdef CALLEE
extern int CALLEE(int);
int NAME(int x) { return CALLEE(x) + 1; }
#else
int NAME(int x) { return x * 2; }
#endif
