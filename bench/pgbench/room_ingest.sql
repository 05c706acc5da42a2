-- Figure 13, contender: one delivery of one item naming 1,000 users: the joins of a new
-- room, then (the next transaction) the leaves of the same 1,000 users (-D k=0).
\set k :k + 1
\set r (:k + 1) / 2
\set op 1 + (:k + 1) % 2
SELECT presence_ingest_unsigned(bench.room_body('r' || :n || '-' || :client_id || '-' || :k,
	'room_' || :n || '_' || :client_id || '_' || :r, :op, 1800000000000 + :k, 1, 1000));
