/* A library whose function returns a build-time number: tells which copy got loaded. */
int SELF(void) { return VALUE; }
