/*
 * Interned names: node names and registered names become small dense ids, so pids
 * compare by integers and the name and peer tables are plain arrays indexed by id.
 * Open addressing with FNV-1a; the table never shrinks (a node sees few distinct names).
 */
#include <stdlib.h>
#include <string.h>

#include "core/node_int.h"

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int grow_slots(otpc__atoms_t *t)
{
    uint32_t ns = t->nslots ? t->nslots * 2 : 256;
    uint32_t *slots = calloc(ns, sizeof *slots);
    if (!slots)
        return -1;
    for (uint32_t id = 1; id < t->count; id++) {
        uint32_t i = hash(t->names[id], strlen(t->names[id])) & (ns - 1);
        while (slots[i])
            i = (i + 1) & (ns - 1);
        slots[i] = id;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = ns;
    return 0;
}

uint32_t otpc__atom_find(const otpc__atoms_t *t, const char *name, size_t len)
{
    if (!t->nslots)
        return 0;
    for (uint32_t i = hash(name, len) & (t->nslots - 1); t->slots[i];
         i = (i + 1) & (t->nslots - 1)) {
        const char *s = t->names[t->slots[i]];
        if (strlen(s) == len && memcmp(s, name, len) == 0)
            return t->slots[i];
    }
    return 0;
}

uint32_t otpc__atom(otpc__atoms_t *t, const char *name, size_t len)
{
    /* a name seen before is only read: a domain's lock may do that */
    uint32_t seen = otpc__atom_find(t, name, len);
    if (seen)
        return seen;
    if (t->count == 0)
        t->count = 1;
    if ((t->count + 1) * 2 > t->nslots && grow_slots(t))
        return 0;
    uint32_t i = hash(name, len) & (t->nslots - 1);
    for (; t->slots[i]; i = (i + 1) & (t->nslots - 1)) {
        const char *s = t->names[t->slots[i]];
        if (strlen(s) == len && memcmp(s, name, len) == 0)
            return t->slots[i];
    }
    if (t->count >= t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        char **names = realloc(t->names, cap * sizeof *names);
        if (!names)
            return 0;
        t->names = names;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return 0;
    memcpy(copy, name, len);
    copy[len] = 0;
    uint32_t id = t->count++;
    t->names[id] = copy;
    t->slots[i] = id;
    return id;
}

const char *otpc__atom_name(const otpc__atoms_t *t, uint32_t id)
{
    return id && id < t->count ? t->names[id] : "";
}

void otpc__atoms_free(otpc__atoms_t *t)
{
    for (uint32_t id = 1; id < t->count; id++)
        free(t->names[id]);
    free(t->names);
    free(t->slots);
    memset(t, 0, sizeof *t);
}
