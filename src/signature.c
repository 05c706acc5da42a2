/*-------------------------------------------------------------------------
 *
 * signature.c
 *	  Check a delivery's signature: SHA1(secret + nonce + signTimestamp) in hex.
 *
 * The scheme is the provider's, not an HMAC, and the body is not covered;
 * ingest binds each accepted triple to a digest of its body (body_digest).
 * Comparison runs in constant time.  No tables and no ereport here, so this
 * file also builds outside the server.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "common/cryptohash.h"

#include "signature.h"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 40 hex digits of either case into 20 bytes; false for anything else. */
bool
signature_from_hex(const char *hex, uint8_t *sig)
{
	if (strlen(hex) != SIGNATURE_LEN * 2)
		return false;
	for (int i = 0; i < SIGNATURE_LEN; i++)
	{
		int			hi = hex_value(hex[2 * i]);
		int			lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		sig[i] = (uint8_t) (hi << 4 | lo);
	}
	return true;
}

/* Decimal digits of Unix milliseconds; false when not that or absurd. */
bool
signature_timestamp_ms(const char *text, int64_t *ms)
{
	int64_t		v = 0;
	size_t		n = strlen(text);

	if (n == 0 || n > 15 || strspn(text, "0123456789") != n)
		return false;
	for (; *text; text++)
		v = v * 10 + (*text - '0');
	*ms = v;
	return true;
}

/* |now - signed| within max_age_s seconds; max_age_s 0 turns the check off. */
bool
signature_is_fresh(int64_t sign_ms, int64_t now_ms, int max_age_s)
{
	int64_t		age = now_ms - sign_ms;

	if (max_age_s <= 0)
		return true;
	if (age < 0)
		age = -age;
	return age <= (int64_t) max_age_s * 1000;
}

static bool
digest(pg_cryptohash_type type, const char *const *parts, int nparts,
	   const size_t *lens, uint8_t *out, size_t outlen)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(type);
	bool		ok;

	if (ctx == NULL)
		return false;
	ok = pg_cryptohash_init(ctx) == 0;
	for (int i = 0; ok && i < nparts; i++)
		ok = pg_cryptohash_update(ctx, (const uint8 *) parts[i], lens[i]) == 0;
	ok = ok && pg_cryptohash_final(ctx, out, outlen) == 0;
	pg_cryptohash_free(ctx);
	return ok;
}

/* SHA1(secret + nonce + sign_timestamp); false if the hash failed. */
bool
signature_compute(const char *secret, const char *nonce,
				  const char *sign_timestamp, uint8_t *sig)
{
	const char *parts[3] = {secret, nonce, sign_timestamp};
	size_t		lens[3] = {strlen(secret), strlen(nonce), strlen(sign_timestamp)};

	return digest(PG_SHA1, parts, 3, lens, sig, SIGNATURE_LEN);
}

/* Compare without an early exit, so timing tells nothing of the secret. */
bool
signature_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	volatile uint8_t diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* SHA256 of the body, to bind a signature triple to the body it came with. */
bool
body_digest(const char *body, size_t len, uint8_t *out)
{
	const char *parts[1] = {body};

	return digest(PG_SHA256, parts, 1, &len, out, BODY_DIGEST_LEN);
}
