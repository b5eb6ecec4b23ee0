-- What was rejected, where it came from and why (from the processors and the sink).
-- rackwatch:shard_key cityHash64(raw)
CREATE TABLE IF NOT EXISTS ${database}.deadletter
(
    rejected_at       DateTime64(3, 'UTC')        CODEC(Delta(8), ZSTD(1)),
    reason_code       LowCardinality(String),
    reason            String                      CODEC(ZSTD(3)),
    source_topic      LowCardinality(String),
    source_partition  Nullable(Int32),
    source_offset     Nullable(Int64),
    key               Nullable(String),
    raw               String                      CODEC(ZSTD(3)),
    raw_encoding      LowCardinality(String),
    origin            LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toDate(rejected_at)
ORDER BY (reason_code, source_topic, rejected_at)
TTL toDateTime(rejected_at) + toIntervalDay(${ttl_days_deadletter})
SETTINGS ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = ${dedup_window};
