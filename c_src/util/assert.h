/*
 * Invariants that run. OTPC__ASSERT(cond) checks a condition the code relies on; it is
 * active in sanitizer and debug builds (-DOTPC_CHECKS: `make SANITIZE=...`, `make
 * DEBUG=1`, the fuzzers) and compiled out of the release build, where it still
 * type-checks its condition. A broken one writes "<file>:<line>: invariant broken:
 * <cond>" to stderr and aborts, so the suites and fuzzers fail on it.
 *
 * Error convention, for the record: a function another file calls returns 0 or a
 * negative OTPC_E* code (a pointer: NULL on failure); predicates return 1 or 0; the
 * incremental decoders of proto/ return 1 (whole), 0 (need more) or a negative
 * OTPC_E* code. Only a file's own static helpers may use -1.
 */
#ifndef OTPC_UTIL_ASSERT_H
#define OTPC_UTIL_ASSERT_H

#if defined(__GNUC__)
__attribute__((noreturn))
#endif
void otpc__assert_fail(const char *cond, const char *file, int line);

#ifdef OTPC_CHECKS
#define OTPC__CHECKS 1
#define OTPC__ASSERT(cond) ((cond) ? (void)0 : otpc__assert_fail(#cond, __FILE__, __LINE__))
#else
#define OTPC__CHECKS 0
#define OTPC__ASSERT(cond) ((void)sizeof(!(cond)))
#endif

#endif
