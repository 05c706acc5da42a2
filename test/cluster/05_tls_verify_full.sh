#!/bin/bash
# test/cluster/05_tls_verify_full.sh: the router reaches its partitions over TLS with sslmode=verify-full.
#
# The router sends its partition password to whatever answers at a partition's address
# (issue 26, point 9).  With sslmode=verify-full and sslrootcert= in a partition string
# (both on the allow-list of src/conninfo.c), the router checks the partition's certificate
# against the CA and the string's host before it authenticates.  A test CA signs two server
# certificates: partition 0's names 127.0.0.1, partition 1's another host.  Both listen on
# 127.0.0.1 with ssl = on and take presence_partition by password (scram) over hostssl only;
# the password is the user mapping's.  The right CA and host work; another CA, or a
# certificate that names another host, are refused before any authentication.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 9
TLS=$WORK/tls
mkdir -p "$TLS"
cert() {	# cert NAME CN SAN CA: a key and a certificate signed by CA (self-signed when CA is "")
	local name=$1 cn=$2 san=$3 ca=$4
	if [ -z "$ca" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=$cn" -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout "$TLS/$name.key" -out "$TLS/$name.crt" 2>/dev/null
	else
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
			-keyout "$TLS/$name.key" -out "$TLS/$name.csr" 2>/dev/null &&
			printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$san" >"$TLS/$name.ext" &&
			openssl x509 -req -in "$TLS/$name.csr" -CA "$TLS/$ca.crt" -CAkey "$TLS/$ca.key" \
				-set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$TLS/$name.ext" \
				-out "$TLS/$name.crt" 2>/dev/null
	fi
}
cert ca "presence test CA" "" "" && cert other_ca "another CA" "" "" &&
	cert p0 127.0.0.1 "IP:127.0.0.1" ca &&
	cert p1 other.partition "DNS:other.partition,IP:127.0.0.2" ca ||
	bail "openssl could not make the test certificates"
chmod 600 "$TLS"/*.key
chmod 644 "$TLS"/*.crt
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$TLS"

for i in 0 1; do
	d=$CLUSTER_DIR/p$i/data
	cat >>"$d/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
ssl = on
ssl_cert_file = '$TLS/p$i.crt'
ssl_key_file = '$TLS/p$i.key'
log_connections = on
CONF
	{
		echo "hostssl presence presence_partition 127.0.0.1/32 scram-sha-256"
		echo "host all all 127.0.0.1/32 reject"
		cat "$d/pg_hba.conf"
	} >"$d/pg_hba.conf.new" && mv "$d/pg_hba.conf.new" "$d/pg_hba.conf"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$d/pg_hba.conf"
	part_sql "$i" "ALTER ROLE presence_partition PASSWORD 'partition-pw'" >/dev/null
	stop_partition "$i"
	start_partition "$i" || bail "partition $i did not start with ssl = on"
done

# cluster STRING: make the router a cluster of that one partition (1 is a power of two)
cluster() {
	sql "DROP SERVER IF EXISTS presence_cluster CASCADE" >/dev/null 2>&1
	sql "SELECT presence.create_cluster(ARRAY['$1 dbname=presence connect_timeout=10 sslmode=verify-full'])" &&
		sql "ALTER USER MAPPING FOR presence_owner SERVER presence_cluster OPTIONS (ADD password 'partition-pw')" >/dev/null
}
# authorized N: the times partition N let presence_partition in
authorized() { grep -c "connection authorized: user=presence_partition" "$CLUSTER_DIR/p$1/server.log"; }
read_users() { psql -X -q -At -v VERBOSITY=verbose -d presence -c "SELECT pg_catalog.count(*) FROM presence.cluster_users(ARRAY['tls_u'])" 2>&1; }

is "$(cluster "host=127.0.0.1 port=$((CLUSTER_PORT + 1)) sslrootcert=$TLS/ca.crt")" 1 \
	"create_cluster takes a string with sslmode=verify-full and sslrootcert="
is "$(sql "SELECT applied FROM presence_ingest_unsigned('{\"status\":\"0\",\"userId\":\"tls_u\",\"sessionId\":\"s\",\"time\":1000}')")" 1 \
	"a delivery through the router is applied on the partition it reaches with the right CA and host"
is "$(part_sql 0 "SELECT online FROM presence.users WHERE user_id = 'tls_u'")" t "and its row is on partition 0"
is "$(read_users)" 1 "a read through the router works too"
like "$(grep "connection authorized: user=presence_partition" "$CLUSTER_DIR/p0/server.log" | tail -1)" \
	"SSL enabled" "the partition saw the router over TLS"

before=$(authorized 0)
cluster "host=127.0.0.1 port=$((CLUSTER_PORT + 1)) sslrootcert=$TLS/other_ca.crt" >/dev/null
out=$(read_users)
like "$out" "08006" "a partition whose certificate another CA signed is refused (08006)"
like "$out" "certificate verify failed" "because its certificate does not verify"
is "$(authorized 0)" "$before" "and the router never authenticated to it"

cluster "host=127.0.0.1 port=$((CLUSTER_PORT + 2)) sslrootcert=$TLS/ca.crt" >/dev/null
out=$(read_users)
if printf '%s' "$out" | grep -q 'does not match host name' && [ "$(authorized 1)" = 0 ]; then r=0; else r=1; fi
ok $r "a partition whose certificate (from the right CA) names another host is refused before authentication"
[ $r = 0 ] || diag "got: $out; authorized on partition 1: $(authorized 1)"
exit $((FAILED > 0))
