-- Per-minute and per-hour rollups per host, metric and rack, kept by materialized
-- views on inserts into `metrics`. Each MV reads `metrics` itself (not the finer
-- rollup), so a deduplicated retry of an insert is deduplicated in both the same way.
-- Read them with: sum(samples), min(min_value), max(max_value),
-- sum(sum_value) / sum(samples) AS avg,
-- quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(quantiles) AS q  -- [p50, p90, p95, p99]
-- rackwatch:shard_key cityHash64(host)
CREATE TABLE IF NOT EXISTS ${database}.metrics_1m
(
    host       LowCardinality(String),
    name       LowCardinality(String),
    rack       LowCardinality(String),
    ts         DateTime('UTC')                                     CODEC(Delta(4), ZSTD(1)),
    samples    SimpleAggregateFunction(sum, UInt64),
    min_value  SimpleAggregateFunction(min, Float64),
    max_value  SimpleAggregateFunction(max, Float64),
    sum_value  SimpleAggregateFunction(sum, Float64),
    quantiles  AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(ts)
ORDER BY (host, name, ts, rack)
TTL ts + toIntervalDay(${ttl_days_metrics_1m})
SETTINGS ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = ${dedup_window};

-- rackwatch:shard_key cityHash64(host)
CREATE TABLE IF NOT EXISTS ${database}.metrics_1h
(
    host       LowCardinality(String),
    name       LowCardinality(String),
    rack       LowCardinality(String),
    ts         DateTime('UTC')                                     CODEC(Delta(4), ZSTD(1)),
    samples    SimpleAggregateFunction(sum, UInt64),
    min_value  SimpleAggregateFunction(min, Float64),
    max_value  SimpleAggregateFunction(max, Float64),
    sum_value  SimpleAggregateFunction(sum, Float64),
    quantiles  AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toStartOfMonth(ts)
ORDER BY (host, name, ts, rack)
TTL ts + toIntervalDay(${ttl_days_metrics_1h})
SETTINGS ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = ${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_1m_mv TO ${database}.metrics_1m AS
SELECT
    host,
    name,
    rack,
    toStartOfMinute(ts) AS ts,
    count() AS samples,
    min(value) AS min_value,
    max(value) AS max_value,
    sum(value) AS sum_value,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(value) AS quantiles
FROM ${database}.metrics
GROUP BY host, name, rack, ts;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_1h_mv TO ${database}.metrics_1h AS
SELECT
    host,
    name,
    rack,
    toStartOfHour(ts) AS ts,
    count() AS samples,
    min(value) AS min_value,
    max(value) AS max_value,
    sum(value) AS sum_value,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(value) AS quantiles
FROM ${database}.metrics
GROUP BY host, name, rack, ts;
