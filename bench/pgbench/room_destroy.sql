-- Figure 13d, contender: destroy a room of 10,000 members (made before the timed run).
SELECT presence_ingest_unsigned(bench.room_body('d' || :room, 'big_' || :room, 3, 1800000100000, 1, 0));
