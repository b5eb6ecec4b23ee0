-- How metric rows get in: the sink inserts the Kafka messages themselves, one row per
-- message (column-oriented, with the batch's deduplication token), into a Null table;
-- materialized views parse each JSON array once, in ClickHouse, and route every record
-- either to `metrics` (whose views keep the rollups) or, with a reason, to `deadletter`.
-- All of it happens inside the one insert, so a retried insert is dropped as a whole and
-- neither rows nor dead letters are duplicated. Values JSONExtract can convert are
-- converted (a number where a string is expected becomes its text); missing or
-- unconvertible required fields, non-object records, foreign schemas, out-of-range times
-- and undecodable messages are dead-lettered.
-- rackwatch:shard_key cityHash64(key)
CREATE TABLE IF NOT EXISTS ${database}.metrics_ingest
(
    topic      LowCardinality(String),
    partition  Int32,
    offset     Int64,
    key        String,
    doc        String
)
ENGINE = Null;

-- rackwatch:shard_key cityHash64(key)
CREATE TABLE IF NOT EXISTS ${database}.metrics_parsed
(
    topic        LowCardinality(String),
    partition    Int32,
    offset       Int64,
    key          String,
    rec          String,
    r            Tuple(schema Nullable(String), host Nullable(String), ts Nullable(Int64),
                       name Nullable(String), labels Map(String, String),
                       value Nullable(Float64), raw Nullable(Float64), ewma Nullable(Float64),
                       wma Nullable(Float64), outlier Nullable(Bool), seq Nullable(UInt64)),
    reason_code  LowCardinality(String),
    reason       String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_parse_mv TO ${database}.metrics_parsed AS
WITH JSONExtract(rec, 'Tuple(schema Nullable(String), host Nullable(String), ts Nullable(Int64), name Nullable(String), labels Map(String, String), value Nullable(Float64), raw Nullable(Float64), ewma Nullable(Float64), wma Nullable(Float64), outlier Nullable(Bool), seq Nullable(UInt64))') AS p
SELECT
    topic,
    partition,
    offset,
    key,
    rec,
    p AS r,
    multiIf(NOT startsWith(rec, '{'), 'bad_type',
            p.host IS NULL OR p.name IS NULL OR p.ts IS NULL OR p.value IS NULL
                OR p.raw IS NULL OR p.seq IS NULL, 'missing_field',
            p.schema IS NOT NULL AND p.schema != 'rackwatch.metric_row/v1', 'unknown_schema',
            p.ts < 0 OR p.ts >= 10413792000000, 'bad_value',
            length(p.host) > 1048576 OR length(p.name) > 1048576, 'too_large',
            '') AS reason_code,
    multiIf(reason_code = '', '',
            reason_code = 'bad_type', 'record is not a JSON object',
            reason_code = 'missing_field', concat('missing or not convertible: ', arrayStringConcat(
                arrayFilter((n, bad) -> bad, ['host', 'name', 'ts', 'value', 'raw', 'seq'],
                            [p.host IS NULL, p.name IS NULL, p.ts IS NULL, p.value IS NULL,
                             p.raw IS NULL, p.seq IS NULL]), ', ')),
            reason_code = 'unknown_schema',
                concat('schema ', ifNull(p.schema, ''), ' where rackwatch.metric_row/v1 was expected'),
            reason_code = 'bad_value',
                concat('ts=', toString(p.ts), ' is not a storable epoch-millisecond time'),
            'host or name larger than 1048576 bytes') AS reason
FROM ${database}.metrics_ingest
ARRAY JOIN JSONExtractArrayRaw(doc) AS rec;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_store_mv TO ${database}.metrics AS
SELECT
    r.host AS host,
    fromUnixTimestamp64Milli(r.ts, 'UTC') AS ts,
    r.name AS name,
    r.labels AS labels,
    r.labels['rack'] AS rack,
    r.value AS value,
    r.raw AS raw,
    ifNull(r.ewma, nan) AS ewma,
    ifNull(r.wma, nan) AS wma,
    ifNull(r.outlier, false) AS outlier,
    r.seq AS seq
FROM ${database}.metrics_parsed
WHERE reason_code = '';

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_reject_mv TO ${database}.deadletter AS
SELECT
    now64(3) AS rejected_at,
    reason_code,
    reason,
    topic AS source_topic,
    partition AS source_partition,
    offset AS source_offset,
    nullIf(key, '') AS key,
    rec AS raw,
    'utf-8' AS raw_encoding,
    'sink' AS origin
FROM ${database}.metrics_parsed
WHERE reason_code != '';

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_badmsg_mv TO ${database}.deadletter AS
SELECT
    now64(3) AS rejected_at,
    if(isValidJSON(doc), 'bad_type', 'bad_json') AS reason_code,
    if(isValidJSON(doc), concat('message is a JSON ', toString(JSONType(doc)),
                                ', not an array of records'), 'undecodable JSON') AS reason,
    topic AS source_topic,
    partition AS source_partition,
    offset AS source_offset,
    nullIf(key, '') AS key,
    doc AS raw,
    'utf-8' AS raw_encoding,
    'sink' AS origin
FROM ${database}.metrics_ingest
WHERE JSONType(doc) != 'Array';
