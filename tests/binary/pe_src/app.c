/* A console program (subsystem windows_cui). */
#include <stdio.h>

int main(void) {
    puts("app");
    return 0;
}
