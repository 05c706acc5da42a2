/* fuzz_check.h: what every fuzz target of presence shares. */
#ifndef PRESENCE_FUZZ_CHECK_H
#define PRESENCE_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* An invariant of the code under test: abort, so libFuzzer keeps the input. */
#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s: invariant failed at line %d: %s\n", \
					__FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
