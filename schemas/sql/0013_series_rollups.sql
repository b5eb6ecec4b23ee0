-- Rollups keyed by the series' full identity: host, name and labels (gpu, device, mount,
-- interface...), not host and name alone, where the GPUs, disks and mounts of a host
-- merged into one row per minute. In place: `labels` is added to both rollup tables and
-- appended to their sorting key (rows written before this migration keep labels = {}:
-- they merged a host's series, as they always did); the views are replaced, each still
-- reading `metrics` itself. (Keeping the hourly rollup from the minute rollup's inserts
-- was measured and dropped: a round of a second or so holds one sample per series, so
-- it reads as many rows and merges t-digest states instead of adding values: no cheaper.)
-- Keeping every series apart costs: on chDB a stored row went from 2.8 to ~4.5 us with
-- both rollups (more groups, each with its t-digest, and a Map in the key). Stop the
-- sinks while this is applied (the sink applies it at start, before it consumes):
-- between the drop of the old views and the creation of the new ones an insert would
-- miss the rollups.
ALTER TABLE ${database}.metrics_1m
    ADD COLUMN IF NOT EXISTS labels Map(LowCardinality(String), String) CODEC(ZSTD(1)) AFTER rack,
    MODIFY ORDER BY (host, name, ts, rack, labels);

ALTER TABLE ${database}.metrics_1h
    ADD COLUMN IF NOT EXISTS labels Map(LowCardinality(String), String) CODEC(ZSTD(1)) AFTER rack,
    MODIFY ORDER BY (host, name, ts, rack, labels);

DROP VIEW IF EXISTS ${database}.metrics_1m_mv;

DROP VIEW IF EXISTS ${database}.metrics_1h_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_1m_series_mv TO ${database}.metrics_1m AS
SELECT
    host,
    name,
    rack,
    labels,
    toStartOfMinute(ts) AS ts,
    count() AS samples,
    min(value) AS min_value,
    max(value) AS max_value,
    sum(value) AS sum_value,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(value) AS quantiles
FROM ${database}.metrics
GROUP BY host, name, rack, labels, ts;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_1h_series_mv TO ${database}.metrics_1h AS
SELECT
    host,
    name,
    rack,
    labels,
    toStartOfHour(ts) AS ts,
    count() AS samples,
    min(value) AS min_value,
    max(value) AS max_value,
    sum(value) AS sum_value,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(value) AS quantiles
FROM ${database}.metrics
GROUP BY host, name, rack, labels, ts;
