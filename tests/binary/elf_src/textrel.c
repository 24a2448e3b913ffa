/* Non-PIC code taking an absolute address: with -z notext the linker emits text relocations. */
int counter;
int *counter_address(void) { return &counter; }
