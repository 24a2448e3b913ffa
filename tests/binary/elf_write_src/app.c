/* An executable needing libdep.so.1 and the versioned library; prints what they return. */
#include <stdio.h>
extern int dep_value(void);
extern int v1_func(void);
extern int v2_func(void);
int main(void) {
  printf("dep=%d versions=%d\n", dep_value(), v1_func() + v2_func());
  return 0;
}
