/*-------------------------------------------------------------------------
 *
 * fuzz_signature.c
 *	  libFuzzer target for the signature helpers (src/signature.c).
 *
 * The input is split at NUL bytes into secret, nonce, signTimestamp and
 * signature (missing parts are ""); the rest, if any, is ignored.  Each part
 * is copied into a buffer of exactly its length plus the NUL, so ASan sees
 * any read past a string.  Checked against independent implementations:
 *
 *	 - signature_from_hex: true iff 40 hex digits of either case, and then
 *	   the bytes are those digits; nothing written when false beyond sig[];
 *	 - signature_timestamp_ms: true iff 1..15 decimal digits, with their value;
 *	 - signature_compute: equals OpenSSL's SHA1(secret || nonce || ts);
 *	   its hex (lower and upper case) round-trips through signature_from_hex
 *	   and signature_equal; any one-bit change makes signature_equal false;
 *	 - signature_is_fresh: symmetric in time, monotone in the age limit;
 *	 - body_digest: equals OpenSSL's SHA256 of the whole input.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <ctype.h>
#include <limits.h>

#include <openssl/evp.h>

#include "signature.h"
#include "fe_arena.h"
#include "fuzz_check.h"

static void
to_hex(const uint8_t *sig, bool upper, char *hex)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	for (int i = 0; i < SIGNATURE_LEN; i++)
	{
		hex[2 * i] = digits[sig[i] >> 4];
		hex[2 * i + 1] = digits[sig[i] & 15];
	}
	hex[2 * SIGNATURE_LEN] = '\0';
}

static int
ref_hex_value(unsigned char c)
{
	if (isdigit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A heap copy of exactly len bytes plus the NUL, so ASan catches over-reads. */
static char *
exact_copy(const uint8_t *data, size_t len)
{
	char	   *s = malloc(len + 1);

	CHECK(s != NULL);
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* The provider's documented test vector, once, so a broken build fails at once. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t		sig[SIGNATURE_LEN];
	uint8_t		given[SIGNATURE_LEN];

	CHECK(signature_compute("Y1W2MeFwwwRxa0", "14314", "1408710653000", sig));
	CHECK(signature_from_hex("30be0bbca9c9b2e27578701e9fda2358a814c88f", given));
	CHECK(signature_equal(sig, given, SIGNATURE_LEN));
	arena_reset();
	return 0;
}

static void
check_from_hex(const char *hex)
{
	size_t		len = strlen(hex);
	bool		expect = len == 2 * SIGNATURE_LEN;
	uint8_t		sig[SIGNATURE_LEN + 1];
	bool		got;

	for (size_t i = 0; expect && i < len; i++)
		expect = ref_hex_value((unsigned char) hex[i]) >= 0;
	sig[SIGNATURE_LEN] = 0xA5;
	got = signature_from_hex(hex, sig);
	CHECK(got == expect);
	CHECK(sig[SIGNATURE_LEN] == 0xA5);
	if (got)
		for (int i = 0; i < SIGNATURE_LEN; i++)
			CHECK(sig[i] == (ref_hex_value((unsigned char) hex[2 * i]) << 4 |
							 ref_hex_value((unsigned char) hex[2 * i + 1])));
}

static void
check_timestamp(const char *ts)
{
	size_t		len = strlen(ts);
	bool		expect = len >= 1 && len <= 15;
	int64_t		ms = -1;
	bool		got;

	for (size_t i = 0; expect && i < len; i++)
		expect = isdigit((unsigned char) ts[i]);
	got = signature_timestamp_ms(ts, &ms);
	CHECK(got == expect);
	if (got)
	{
		CHECK(ms >= 0 && ms < INT64_C(1000000000000000));
		CHECK(ms == strtoll(ts, NULL, 10));
	}
	else
		CHECK(ms == -1);
}

static void
check_compute(const char *secret, const char *nonce, const char *ts, const uint8_t *data,
			  size_t size)
{
	uint8_t		sig[SIGNATURE_LEN];
	uint8_t		ref[EVP_MAX_MD_SIZE];
	uint8_t		back[SIGNATURE_LEN];
	char		hex[2 * SIGNATURE_LEN + 1];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int reflen = 0;

	CHECK(signature_compute(secret, nonce, ts, sig));
	CHECK(ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1);
	CHECK(EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1);
	CHECK(EVP_DigestUpdate(ctx, nonce, strlen(nonce)) == 1);
	CHECK(EVP_DigestUpdate(ctx, ts, strlen(ts)) == 1);
	CHECK(EVP_DigestFinal_ex(ctx, ref, &reflen) == 1 && reflen == SIGNATURE_LEN);
	EVP_MD_CTX_free(ctx);
	CHECK(memcmp(sig, ref, SIGNATURE_LEN) == 0);

	CHECK(signature_equal(sig, sig, SIGNATURE_LEN));
	for (int upper = 0; upper <= 1; upper++)
	{
		to_hex(sig, upper, hex);
		CHECK(signature_from_hex(hex, back));
		CHECK(signature_equal(sig, back, SIGNATURE_LEN));
	}
	/* flip one bit, chosen by the input */
	{
		size_t		bit = size ? (data[size - 1] + size) % (SIGNATURE_LEN * 8) : 0;

		back[bit / 8] ^= (uint8_t) (1 << (bit % 8));
		CHECK(!signature_equal(sig, back, SIGNATURE_LEN));
		CHECK(signature_equal(sig, back, bit / 8));
	}
}

static void
check_fresh(const char *ts, const uint8_t *data, size_t size)
{
	int64_t		sign_ms;
	int64_t		now_ms;
	int			max_age = 0;

	if (!signature_timestamp_ms(ts, &sign_ms))
		return;
	/* a clock within the timestamps the server can see, near sign_ms or not */
	{
		uint64_t	h = 0;

		for (size_t i = 0; i < size && i < 6; i++)
			h = h * 31 + data[i];
		now_ms = (size % 2) ? (int64_t) (h % INT64_C(1000000000000000))
			: sign_ms + (int64_t) (h % 2000001) - 1000000;
	}
	if (size > 2)
		max_age = (int) ((data[size - 1] << 16 | data[size - 2] << 8 | data[0]) - (1 << 20));
	CHECK(signature_is_fresh(sign_ms, now_ms, max_age) ==
		  signature_is_fresh(now_ms, sign_ms, max_age));
	if (max_age <= 0)
		CHECK(signature_is_fresh(sign_ms, now_ms, max_age));
	else
	{
		int64_t		age = now_ms > sign_ms ? now_ms - sign_ms : sign_ms - now_ms;

		CHECK(signature_is_fresh(sign_ms, now_ms, max_age) == (age <= (int64_t) max_age * 1000));
		if (signature_is_fresh(sign_ms, now_ms, max_age) && max_age < INT_MAX)
			CHECK(signature_is_fresh(sign_ms, now_ms, max_age + 1));
	}
	CHECK(signature_is_fresh(sign_ms, sign_ms, max_age));
}

static void
check_body_digest(const uint8_t *data, size_t size)
{
	uint8_t		got[BODY_DIGEST_LEN];
	uint8_t		ref[EVP_MAX_MD_SIZE];
	unsigned int reflen = 0;

	CHECK(body_digest((const char *) data, size, got));
	CHECK(EVP_Digest(data, size, ref, &reflen, EVP_sha256(), NULL) == 1 &&
		  reflen == BODY_DIGEST_LEN);
	CHECK(memcmp(got, ref, BODY_DIGEST_LEN) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *part[4];
	size_t		pos = 0;

	for (int i = 0; i < 4; i++)
	{
		const uint8_t *nul = pos < size ? memchr(data + pos, 0, size - pos) : NULL;
		size_t		len = nul ? (size_t) (nul - (data + pos)) : size - Min(pos, size);

		part[i] = exact_copy(data + Min(pos, size), len);
		pos += len + 1;
	}

	check_from_hex(part[3]);
	check_timestamp(part[2]);
	check_compute(part[0], part[1], part[2], data, size);
	check_fresh(part[2], data, size);
	check_body_digest(data, size);

	for (int i = 0; i < 4; i++)
		free(part[i]);
	arena_reset();
	return 0;
}
