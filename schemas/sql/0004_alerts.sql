-- Every alert state change (firing, re-sent, resolved), Alertmanager-shaped.
-- The current state of an alert is its row with the latest updated_at:
--   SELECT argMax(status, updated_at) ... GROUP BY fingerprint
-- rackwatch:shard_key cityHash64(fingerprint)
CREATE TABLE IF NOT EXISTS ${database}.alerts
(
    fingerprint  String                               CODEC(ZSTD(1)),
    status       LowCardinality(String),
    rule         LowCardinality(String),
    severity     LowCardinality(String),
    host         LowCardinality(String),
    rack         LowCardinality(String),
    labels       Map(LowCardinality(String), String)  CODEC(ZSTD(1)),
    annotations  Map(LowCardinality(String), String)  CODEC(ZSTD(3)),
    value        Nullable(Float64),
    threshold    Nullable(Float64),
    starts_at    DateTime64(3, 'UTC')                 CODEC(Delta(8), ZSTD(1)),
    ends_at      Nullable(DateTime64(3, 'UTC')),
    updated_at   DateTime64(3, 'UTC')                 CODEC(Delta(8), ZSTD(1)),
    incident_id  String                               CODEC(ZSTD(1)),
    INDEX idx_fingerprint fingerprint TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_host host TYPE set(4096) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toDate(updated_at)
ORDER BY (rule, fingerprint, updated_at)
TTL toDateTime(updated_at) + toIntervalDay(${ttl_days_alerts})
SETTINGS ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = ${dedup_window};
