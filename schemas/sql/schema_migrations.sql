-- What the migrator has applied (see sinks.migrations): one row per applied file.
-- Not versioned itself: it must exist before the versions can be read.
CREATE TABLE IF NOT EXISTS ${database}.schema_migrations
(
    version     UInt32,
    name        String,
    checksum    String,
    applied_at  DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version;
