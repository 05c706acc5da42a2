-- Figure 13d, contender: destroy a room of 10,000 members (bench.room_members(r) made it).
SELECT presence_ingest_unsigned(json_build_object('type', 'open_channel:operation',
	'id', 'd' || :room, 'time', 1800000000000, 'data', json_build_array(json_build_object(
		'channelId', 'big_' || :room, 'operationType', 3, 'status', 0, 'time', 1800000100000)))::text);
