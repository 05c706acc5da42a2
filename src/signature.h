/*-------------------------------------------------------------------------
 *
 * signature.h
 *	  The provider's delivery signature: SHA1(secret + nonce + signTimestamp).
 *
 * Pure functions on PostgreSQL's cryptohash API: no tables, no errors
 * raised, so this also builds outside the server.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_SIGNATURE_H
#define PRESENCE_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGNATURE_LEN 20		/* SHA1 */
#define BODY_DIGEST_LEN 32		/* SHA256 */

extern bool signature_from_hex(const char *hex, uint8_t *sig);
extern bool signature_timestamp_ms(const char *text, int64_t *ms);
extern bool signature_is_fresh(int64_t sign_ms, int64_t now_ms, int max_age_s);
extern bool signature_compute(const char *secret, const char *nonce,
							  const char *sign_timestamp, uint8_t *sig);
extern bool signature_equal(const uint8_t *a, const uint8_t *b, size_t len);
extern bool body_digest(const char *body, size_t len, uint8_t *digest);

#endif							/* PRESENCE_SIGNATURE_H */
