-- Every incident change (open, updated, resolved); latest updated_at wins.
-- rackwatch:shard_key cityHash64(incident_id)
CREATE TABLE IF NOT EXISTS ${database}.incidents
(
    incident_id        String                               CODEC(ZSTD(1)),
    status             LowCardinality(String),
    scope              LowCardinality(String),
    scope_value        LowCardinality(String),
    suspect            String                               CODEC(ZSTD(1)),
    root_cause_hint    String                               CODEC(ZSTD(3)),
    fault_probability  Nullable(Float64),
    hosts              Array(LowCardinality(String)),
    alerts             Array(String)                        CODEC(ZSTD(1)),
    fault_classes      Array(LowCardinality(String)),
    severity           LowCardinality(String),
    opened_at          DateTime64(3, 'UTC')                 CODEC(Delta(8), ZSTD(1)),
    updated_at         DateTime64(3, 'UTC')                 CODEC(Delta(8), ZSTD(1)),
    resolved_at        Nullable(DateTime64(3, 'UTC')),
    evidence           String                               CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toDate(updated_at)
ORDER BY (scope, scope_value, incident_id, updated_at)
TTL toDateTime(updated_at) + toIntervalDay(${ttl_days_incidents})
SETTINGS ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = ${dedup_window};
