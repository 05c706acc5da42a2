-- Figure 13, contender: one delivery of one item naming 1,000 users: the joins of a new
-- room, then (the next transaction) the leaves of the same 1,000 users (-D k=0).
\set k :k + 1
SELECT presence_ingest_unsigned(json_build_object('type', 'open_channel:operation',
	'id', 'r' || :n || '-' || :client_id || '-' || :k, 'time', 1800000000000,
	'data', json_build_array(json_build_object(
		'channelId', 'room_' || :n || '_' || :client_id || '_' || (:k + 1) / 2,
		'userIds', (SELECT array_agg('member' || g) FROM generate_series(1, 1000) g),
		'operationType', 1 + (:k + 1) % 2, 'status', 0, 'time', 1800000000000 + :k)))::text);
