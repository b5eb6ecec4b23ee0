-- The handling record of alerts (rackwatch.action/v1 on rackwatch.actions): assigned
-- (routing named an owner when the alert fired), acknowledged, escalated (not
-- acknowledged within the route's ack_timeout), silenced, resolved (by hand, or by
-- rackwatch when the condition cleared), reopened; who, when, and a note.
-- rackwatch's own actions may be stored more than once (re-sent with the alert, or
-- after a worker restart), always with the same action_id: count them once, e.g.
--   SELECT ... FROM alert_actions ... LIMIT 1 BY action_id
-- (merges also fold them: ReplacingMergeTree on action_id). docs/queries.md: MTTA, MTTR.
-- rackwatch:shard_key cityHash64(action_id)
CREATE TABLE IF NOT EXISTS ${database}.alert_actions
(
    action_id    String                               CODEC(ZSTD(1)),
    action       LowCardinality(String),
    fingerprint  String                               CODEC(ZSTD(1)),
    by           LowCardinality(String),
    at           DateTime64(3, 'UTC')                 CODEC(Delta(8), ZSTD(1)),
    note         String                               CODEC(ZSTD(3)),
    assignee     LowCardinality(String),
    priority     LowCardinality(String),
    group_key    String                               CODEC(ZSTD(1)),
    starts_at    Nullable(DateTime64(3, 'UTC')),
    rule         LowCardinality(String),
    host         LowCardinality(String),
    rack         LowCardinality(String),
    labels       Map(LowCardinality(String), String)  CODEC(ZSTD(1)),
    matchers     Array(String)                        CODEC(ZSTD(1)),
    until        Nullable(DateTime64(3, 'UTC')),
    level        UInt16,
    INDEX idx_fingerprint fingerprint TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (fingerprint, action_id)
TTL toDateTime(at) + toIntervalDay(${ttl_days_alert_actions})
SETTINGS ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = ${dedup_window};
