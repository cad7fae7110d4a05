/* A shared object without OTPC_MODULES: not a plug-in. */
int otpc_test_nothing(void);
int otpc_test_nothing(void) { return 0; }
