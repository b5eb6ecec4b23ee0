-- Normalised metric samples: one row per (host, metric, series labels, time).
-- ORDER BY matches the common queries (one host's metric over time; one metric
-- across hosts over a time range is helped by the low cardinality of host).
-- rackwatch:shard_key cityHash64(host)
CREATE TABLE IF NOT EXISTS ${database}.metrics
(
    host      LowCardinality(String),
    ts        DateTime64(3, 'UTC')                 CODEC(Delta(8), ZSTD(1)),
    name      LowCardinality(String),
    labels    Map(LowCardinality(String), String)  CODEC(ZSTD(1)),
    rack      LowCardinality(String),
    value     Float64                              CODEC(Gorilla, ZSTD(1)),
    raw       Float64                              CODEC(Gorilla, ZSTD(1)),
    ewma      Float64                              CODEC(Gorilla, ZSTD(1)),
    wma       Float64                              CODEC(Gorilla, ZSTD(1)),
    outlier   Bool,
    seq       UInt64                               CODEC(Delta(8), ZSTD(1)),
    INDEX idx_rack rack TYPE set(1024) GRANULARITY 4,
    INDEX idx_label_keys mapKeys(labels) TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_label_values mapValues(labels) TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (host, name, ts)
TTL toDateTime(ts) + toIntervalDay(${ttl_days_metrics})
SETTINGS index_granularity = 8192,
         ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = ${dedup_window};
