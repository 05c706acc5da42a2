/*-------------------------------------------------------------------------
 *
 * fe_arena.c
 *	  A memory context for the fuzz targets, so that no input leaks.
 *
 * Outside the server, libpgcommon's palloc() is plain malloc() and nothing
 * ever frees what the parser allocates (in the server a memory context
 * does).  Running a fuzzer on that leaks a few KB per input: LeakSanitizer
 * reports it and a long run ends at libFuzzer's -rss_limit_mb.
 *
 * The fuzz targets are linked with -Wl,--wrap=palloc,... (see Makefile), so
 * every palloc-family call made by payload.c and by libpgcommon's other
 * objects (jsonapi.o, stringinfo.o, psprintf.o) lands here.  Each chunk is
 * kept on a list and arena_reset() frees them all at the end of an input,
 * just as the server resets a memory context.  LeakSanitizer then stays
 * on (-detect_leaks=1) and reports only real leaks of malloc()ed memory.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe_arena.h"

/* 16 bytes, so chunks keep malloc's alignment. */
typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
} Chunk;

static Chunk head = {&head, &head};
static size_t nchunks;

#define MCXT_ALLOC_HUGE 0x01
#define MCXT_ALLOC_NO_OOM 0x02
#define MCXT_ALLOC_ZERO 0x04

static void
chunk_link(Chunk *c)
{
	c->next = head.next;
	c->prev = &head;
	head.next->prev = c;
	head.next = c;
	nchunks++;
}

static void
chunk_unlink(Chunk *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	nchunks--;
}

static void *
chunk_alloc(size_t size, int flags)
{
	Chunk	   *c;

	/* Like palloc: at most MaxAllocSize unless huge; 0 bytes gives a chunk. */
	if (!(flags & MCXT_ALLOC_HUGE) && size > ((size_t) 0x3fffffff))
	{
		fprintf(stderr, "fe_arena: invalid memory alloc request size %zu\n", size);
		abort();
	}
	c = malloc(sizeof(Chunk) + (size ? size : 1));
	if (c == NULL)
	{
		if (flags & MCXT_ALLOC_NO_OOM)
			return NULL;
		fprintf(stderr, "fe_arena: out of memory\n");
		abort();
	}
	chunk_link(c);
	if (flags & MCXT_ALLOC_ZERO)
		memset(c + 1, 0, size);
	return c + 1;
}

void *
__wrap_palloc(size_t size)
{
	return chunk_alloc(size, 0);
}

void *
__wrap_palloc0(size_t size)
{
	return chunk_alloc(size, MCXT_ALLOC_ZERO);
}

void *
__wrap_palloc_extended(size_t size, int flags)
{
	return chunk_alloc(size, flags);
}

void
__wrap_pfree(void *pointer)
{
	Chunk	   *c;

	if (pointer == NULL)
	{
		fprintf(stderr, "fe_arena: pfree(NULL)\n");
		abort();
	}
	c = (Chunk *) pointer - 1;
	chunk_unlink(c);
	free(c);
}

void *
__wrap_repalloc(void *pointer, size_t size)
{
	Chunk	   *c = (Chunk *) pointer - 1;
	Chunk	   *n;

	if (size > ((size_t) 0x3fffffff))
	{
		fprintf(stderr, "fe_arena: invalid memory alloc request size %zu\n", size);
		abort();
	}
	chunk_unlink(c);
	n = realloc(c, sizeof(Chunk) + (size ? size : 1));
	if (n == NULL)
	{
		fprintf(stderr, "fe_arena: out of memory\n");
		abort();
	}
	chunk_link(n);
	return n + 1;
}

char *
__wrap_pstrdup(const char *in)
{
	size_t		len = strlen(in);
	char	   *out = chunk_alloc(len + 1, 0);

	memcpy(out, in, len + 1);
	return out;
}

char *
__wrap_pnstrdup(const char *in, size_t size)
{
	size_t		len = strnlen(in, size);
	char	   *out = chunk_alloc(len + 1, 0);

	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

size_t
arena_chunks(void)
{
	return nchunks;
}

void
arena_reset(void)
{
	while (head.next != &head)
	{
		Chunk	   *c = head.next;

		chunk_unlink(c);
		free(c);
	}
}
