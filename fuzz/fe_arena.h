/* fe_arena.h: free everything palloc'd for one fuzz input (see fe_arena.c). */
#ifndef PRESENCE_FE_ARENA_H
#define PRESENCE_FE_ARENA_H

#include <stddef.h>

extern void arena_reset(void);
extern size_t arena_chunks(void);

#endif
