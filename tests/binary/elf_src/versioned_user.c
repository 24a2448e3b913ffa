/* Calls versioned symbols of libversioned.so: gives the file a DT_VERNEED chain. */
extern int v1_func(void);
extern int v2_func(void);
int main(void) { return v1_func() + v2_func() - 3; }
