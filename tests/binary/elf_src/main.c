/* A trivial program, linked as PIE, non-PIE and static. */
#include <stdio.h>
int main(void) { puts("hello"); return 0; }
