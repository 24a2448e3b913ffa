/* An object whose function calls one in its dependency (an "extension" or a middle library). */
extern int NEXT(void);
int SELF(void) { return NEXT(); }
