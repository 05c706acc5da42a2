-- Figure 11d: the online members of a 1,000-member room (bench_room_online).
SELECT * FROM presence.room_online('bench_room_online');
