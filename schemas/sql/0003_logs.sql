-- Parsed log records with their template and fault class. Empty strings mean
-- "unknown" (program, component, fault_class) and pid 0 means no pid: the
-- ClickHouse habit of avoiding Nullable for columns read on every query.
-- rackwatch:shard_key cityHash64(host)
CREATE TABLE IF NOT EXISTS ${database}.logs
(
    host         LowCardinality(String),
    ts           DateTime64(3, 'UTC')                 CODEC(Delta(8), ZSTD(1)),
    seq          UInt64                               CODEC(Delta(8), ZSTD(1)),
    rack         LowCardinality(String),
    severity     LowCardinality(String),
    program      LowCardinality(String),
    pid          UInt32                               CODEC(ZSTD(1)),
    component    LowCardinality(String),
    source       LowCardinality(String),
    template_id  LowCardinality(String),
    template     String                               CODEC(ZSTD(3)),
    fault_class  LowCardinality(String),
    message      String                               CODEC(ZSTD(3)),
    labels       Map(LowCardinality(String), String)  CODEC(ZSTD(1)),
    INDEX idx_fault_class fault_class TYPE set(256) GRANULARITY 1,
    INDEX idx_severity severity TYPE set(16) GRANULARITY 1,
    INDEX idx_message_tokens message TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (host, ts)
TTL toDateTime(ts) + toIntervalDay(${ttl_days_logs})
SETTINGS index_granularity = 8192,
         ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = ${dedup_window};
