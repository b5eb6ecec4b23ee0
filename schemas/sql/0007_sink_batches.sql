-- The sink's batch journal: written just before each insert, so a sink that
-- restarts from the last committed Kafka offset can cut its first batch exactly
-- as before and re-send it with the same deduplication token (see docs/storage.md).
-- rackwatch:shard_key cityHash64(topic, partition)
CREATE TABLE IF NOT EXISTS ${database}.sink_batches
(
    topic         LowCardinality(String),
    partition     Int32,
    first_offset  Int64,
    last_offset   Int64,
    rows          UInt32,
    token         String,
    written_at    DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toDate(written_at)
ORDER BY (topic, partition, first_offset)
TTL toDateTime(written_at) + toIntervalDay(${ttl_days_sink_batches})
SETTINGS ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = ${dedup_window};
