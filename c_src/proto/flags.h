/*
 * Distribution capability flags (values from ERTS dist.h) and otpc's choice of them.
 *
 * otpc announces what it implements fully and requires what OTP 26 requires (the
 * OTP 25 set plus V4_NC and UNLINK_ID) and DIST_MONITOR, which every ERTS has. Unknown
 * peer flags are ignored, never fatal.
 */
#ifndef OTPC_DIST_FLAGS_H
#define OTPC_DIST_FLAGS_H

#include <stdint.h>

#define DF_PUBLISHED 0x1ULL
#define DF_ATOM_CACHE 0x2ULL
#define DF_EXTENDED_REFERENCES 0x4ULL
#define DF_DIST_MONITOR 0x8ULL
#define DF_FUN_TAGS 0x10ULL
#define DF_DIST_MONITOR_NAME 0x20ULL
#define DF_HIDDEN_ATOM_CACHE 0x40ULL
#define DF_NEW_FUN_TAGS 0x80ULL
#define DF_EXTENDED_PIDS_PORTS 0x100ULL
#define DF_EXPORT_PTR_TAG 0x200ULL
#define DF_BIT_BINARIES 0x400ULL
#define DF_NEW_FLOATS 0x800ULL
#define DF_UNICODE_IO 0x1000ULL
#define DF_DIST_HDR_ATOM_CACHE 0x2000ULL
#define DF_SMALL_ATOM_TAGS 0x4000ULL
#define DF_UTF8_ATOMS 0x10000ULL
#define DF_MAP_TAG 0x20000ULL
#define DF_BIG_CREATION 0x40000ULL
#define DF_SEND_SENDER 0x80000ULL
#define DF_BIG_SEQTRACE_LABELS 0x100000ULL
#define DF_EXIT_PAYLOAD 0x400000ULL
#define DF_FRAGMENTS 0x800000ULL
#define DF_HANDSHAKE_23 0x1000000ULL
#define DF_UNLINK_ID 0x2000000ULL
#define DF_MANDATORY_25_DIGEST 0x4000000ULL
#define DF_SPAWN (1ULL << 32)
#define DF_NAME_ME (2ULL << 32)
#define DF_V4_NC (4ULL << 32)
#define DF_ALIAS (8ULL << 32)

#define DF_MANDATORY_25                                                              \
    (DF_EXTENDED_REFERENCES | DF_FUN_TAGS | DF_EXTENDED_PIDS_PORTS | DF_UTF8_ATOMS | \
     DF_NEW_FUN_TAGS | DF_BIG_CREATION | DF_NEW_FLOATS | DF_MAP_TAG |                \
     DF_EXPORT_PTR_TAG | DF_BIT_BINARIES | DF_HANDSHAKE_23)
#define DF_MANDATORY_26 (DF_V4_NC | DF_UNLINK_ID)

/* What a peer must announce for otpc to talk to it. */
#define OTPC__DF_REQUIRED (DF_MANDATORY_25 | DF_MANDATORY_26 | DF_DIST_MONITOR)

/* What otpc announces: everything it decodes and implements. No atom cache and no
 * fragments, so every packet is one 'p' pass-through control message (+ payload). */
#define OTPC__DF_OURS                                                                    \
    (DF_MANDATORY_25 | DF_MANDATORY_26 | DF_DIST_MONITOR | DF_DIST_MONITOR_NAME |        \
     DF_UNICODE_IO | DF_SMALL_ATOM_TAGS | DF_SEND_SENDER | DF_BIG_SEQTRACE_LABELS |     \
     DF_EXIT_PAYLOAD | DF_ALIAS)

#endif
