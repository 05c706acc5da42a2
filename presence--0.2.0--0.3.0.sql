/* presence--0.2.0--0.3.0.sql: upgrade a 0.2.0 installation to 0.3.0 */
--
-- There is no full script for 0.3.0: CREATE EXTENSION presence runs the
-- released presence--0.1.0.sql and the upgrade scripts after it, as
-- contrib/pg_stat_statements ships, so every SQL change is written once.
-- Each part of 0.3.0 adds its own section below, in the order of the topics
-- of doc/rules.md.

\echo Use "ALTER EXTENSION presence UPDATE TO '0.3.0'" to load this file. \quit

/*
 * Signatures (doc/rules.md section 4, contract section 11 as amended for 0.3.0).
 * The provider's status API and its webhooks share the secret and the formula
 * sha1(secret + nonce + timestamp), so presence-http binds the triple of each
 * status request it is about to send to a digest no body has (32 zero bytes):
 * replayed as a delivery's signature, with any body, it is a triple already
 * seen with another body and is refused.  The row ages out with the others.
 */
CREATE FUNCTION presence.bind_outgoing_signature(nonce text, sign_timestamp text, signature text)
	RETURNS void
	LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO presence.seen_signatures (nonce, sign_timestamp, signature, body_sha256, signed_at)
	VALUES ($1, $2, $3, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'), pg_catalog.now());
$$;
COMMENT ON FUNCTION presence.bind_outgoing_signature(text, text, text) IS
	'Bind the triple of an outgoing status API request (presence-http) to a digest no body has, so that it never passes as a delivery''s signature.';
REVOKE ALL ON FUNCTION presence.bind_outgoing_signature(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION presence.bind_outgoing_signature(text, text, text) TO presence_writer, presence_admin;
ALTER FUNCTION presence.bind_outgoing_signature(text, text, text) OWNER TO presence_owner;
