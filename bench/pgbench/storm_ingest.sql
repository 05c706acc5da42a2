-- Figure 6, contender: one 100-item delivery of the reconnect storm.
-- Client c takes deliveries first + c, first + c + nclients, ... (-D first=... -D nclients=...).
\set k :k + 1
\set d :first + (:k - 1) * :nclients + :client_id
SELECT presence_ingest_unsigned(body) FROM bench.storm WHERE d = :d;
