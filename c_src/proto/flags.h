/*
 * Distribution capability flags (values from ERTS dist.h) and otpc's choice of them.
 *
 * otpc announces what it implements fully and requires exactly what OTP 26 requires
 * (the OTP 25 set plus V4_NC and UNLINK_ID), so it talks to whatever ERTS 26 talks to.
 * DIST_MONITOR and DIST_MONITOR_NAME are not required: jinterface announces neither and
 * erl_interface only the first. A peer without both gets no monitor control messages
 * (distribution/dsig.c), as from ERTS. Unknown peer flags are ignored, never fatal: OTP 29
 * also announces NATIVE_RECORDS (bit 38), which says how it encodes records among its
 * own kind and nothing otpc needs.
 */
#ifndef OTPC_DIST_FLAGS_H
#define OTPC_DIST_FLAGS_H

#include <stdint.h>

#define OTPC__DF_PUBLISHED 0x1ULL
#define OTPC__DF_ATOM_CACHE 0x2ULL
#define OTPC__DF_EXTENDED_REFERENCES 0x4ULL
#define OTPC__DF_DIST_MONITOR 0x8ULL
#define OTPC__DF_FUN_TAGS 0x10ULL
#define OTPC__DF_DIST_MONITOR_NAME 0x20ULL
#define OTPC__DF_HIDDEN_ATOM_CACHE 0x40ULL
#define OTPC__DF_NEW_FUN_TAGS 0x80ULL
#define OTPC__DF_EXTENDED_PIDS_PORTS 0x100ULL
#define OTPC__DF_EXPORT_PTR_TAG 0x200ULL
#define OTPC__DF_BIT_BINARIES 0x400ULL
#define OTPC__DF_NEW_FLOATS 0x800ULL
#define OTPC__DF_UNICODE_IO 0x1000ULL
#define OTPC__DF_DIST_HDR_ATOM_CACHE 0x2000ULL
#define OTPC__DF_SMALL_ATOM_TAGS 0x4000ULL
#define OTPC__DF_UTF8_ATOMS 0x10000ULL
#define OTPC__DF_MAP_TAG 0x20000ULL
#define OTPC__DF_BIG_CREATION 0x40000ULL
#define OTPC__DF_SEND_SENDER 0x80000ULL
#define OTPC__DF_BIG_SEQTRACE_LABELS 0x100000ULL
#define OTPC__DF_EXIT_PAYLOAD 0x400000ULL
#define OTPC__DF_FRAGMENTS 0x800000ULL
#define OTPC__DF_HANDSHAKE_23 0x1000000ULL
#define OTPC__DF_UNLINK_ID 0x2000000ULL
#define OTPC__DF_MANDATORY_25_DIGEST 0x4000000ULL
#define OTPC__DF_SPAWN (1ULL << 32)
#define OTPC__DF_NAME_ME (2ULL << 32)
#define OTPC__DF_V4_NC (4ULL << 32)
#define OTPC__DF_ALIAS (8ULL << 32)
/* OTP 28+: control op 37 ALTACT_SIG_SEND, the successor of ALIAS_SEND (deprecated in
 * OTP 28, to be removed in OTP 30) that also carries priority messages and exit
 * signals to aliases. */
#define OTPC__DF_ALTACT_SIG (0x20ULL << 32)

#define OTPC__DF_MANDATORY_25                                                                    \
    (OTPC__DF_EXTENDED_REFERENCES | OTPC__DF_FUN_TAGS | OTPC__DF_EXTENDED_PIDS_PORTS |           \
     OTPC__DF_UTF8_ATOMS | OTPC__DF_NEW_FUN_TAGS | OTPC__DF_BIG_CREATION | OTPC__DF_NEW_FLOATS | \
     OTPC__DF_MAP_TAG | OTPC__DF_EXPORT_PTR_TAG | OTPC__DF_BIT_BINARIES | OTPC__DF_HANDSHAKE_23)
#define OTPC__DF_MANDATORY_26 (OTPC__DF_V4_NC | OTPC__DF_UNLINK_ID)

/* What a peer must announce for otpc to talk to it: what ERTS 26 requires. */
#define OTPC__DF_REQUIRED (OTPC__DF_MANDATORY_25 | OTPC__DF_MANDATORY_26)

/* What a peer must announce to be sent MONITOR_P, DEMONITOR_P and MONITOR_P_EXIT (ERTS
 * asks both of it, whether the monitor is by pid or by name). */
#define OTPC__DF_MONITORS (OTPC__DF_DIST_MONITOR | OTPC__DF_DIST_MONITOR_NAME)

/* What otpc announces: everything it decodes and implements. FRAGMENTS or
 * DIST_HDR_ATOM_CACHE: with a peer that announces it too, every packet both ways has a
 * distribution header (131 68, or 131 69 / 70 for the fragments of a large message,
 * which FRAGMENTS allows: proto/frag.h); with DIST_HDR_ATOM_CACHE the headers carry
 * atom cache references (proto/atomcache.h), which proto/frag writes out as atoms on the
 * way in; with any other peer every packet is one 'p' pass-through control message (+
 * payload). */
#define OTPC__DF_OURS                                                                      \
    (OTPC__DF_MANDATORY_25 | OTPC__DF_MANDATORY_26 | OTPC__DF_DIST_MONITOR |               \
     OTPC__DF_DIST_MONITOR_NAME | OTPC__DF_UNICODE_IO | OTPC__DF_SMALL_ATOM_TAGS |         \
     OTPC__DF_SEND_SENDER | OTPC__DF_BIG_SEQTRACE_LABELS | OTPC__DF_EXIT_PAYLOAD |         \
     OTPC__DF_FRAGMENTS | OTPC__DF_DIST_HDR_ATOM_CACHE | OTPC__DF_ALIAS | OTPC__DF_SPAWN | \
     OTPC__DF_ALTACT_SIG)

#endif
