-- Metric blocks parsed once per insert instead of three times. The views of 0009 each
-- decoded every block (the store view, the row-reject view and the message-reject
-- view), and the two reject views also ran isValidJSON and JSONType over every message:
-- together ~1.8 us of a stored row's ~5.4 us on chDB, for messages that are almost
-- always valid. Now one view decodes each block into a Null table with its verdict
-- (`code`, empty for a block that can be expanded), and three views read the decoded
-- blocks: rows of valid blocks -> `metrics`; the rare bad rows of valid blocks ->
-- `deadletter` (only blocks holding one are expanded); blocks that cannot be expanded
-- -> `deadletter` once (their JSON type looked at only then). Same rows, same reasons,
-- same dead letters as 0009 (tests/unit/sinks/test_blocks.py holds them to that).
-- Re-applying this file is harmless: the old views are dropped if present, the new
-- ones created if absent.
DROP VIEW IF EXISTS ${database}.metric_blocks_store_mv;

DROP VIEW IF EXISTS ${database}.metric_blocks_reject_mv;

DROP VIEW IF EXISTS ${database}.metric_blocks_badmsg_mv;

-- rackwatch:shard_key cityHash64(key)
CREATE TABLE IF NOT EXISTS ${database}.metric_blocks_parsed
(
    topic      LowCardinality(String),
    partition  Int32,
    offset     Int64,
    key        String,
    doc        String,
    code       LowCardinality(String),
    b          Tuple(schema Nullable(String), n Nullable(UInt32), host Nullable(String),
                     ts Nullable(Int64), seq Nullable(UInt64), labels Map(String, String),
                     name Array(Nullable(String)), series_labels Array(Map(String, String)),
                     value Array(Nullable(Float64)), raw Array(Nullable(Float64)),
                     ewma Array(Nullable(Float64)), wma Array(Nullable(Float64)),
                     outlier Array(Nullable(Bool)))
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metric_blocks_parse_mv TO ${database}.metric_blocks_parsed AS
SELECT
    topic, partition, offset, key, doc,
    multiIf(ifNull(b.schema = 'rackwatch.metric_block/v1' AND b.host IS NOT NULL
                   AND b.ts IS NOT NULL AND b.seq IS NOT NULL AND length(b.name) = b.n
                   AND length(b.series_labels) = b.n AND length(b.value) = b.n
                   AND length(b.raw) = b.n AND length(b.ewma) = b.n AND length(b.wma) = b.n
                   AND length(b.outlier) = b.n, false), '',
            NOT isValidJSON(doc), 'bad_json',
            JSONType(doc) != 'Object', 'bad_type',
            ifNull(b.schema != 'rackwatch.metric_block/v1', true), 'unknown_schema',
            b.host IS NULL OR b.ts IS NULL OR b.seq IS NULL OR b.n IS NULL, 'missing_field',
            'bad_value') AS code,
    b
FROM
(
    SELECT topic, partition, offset, key, doc,
           JSONExtract(doc, 'Tuple(schema Nullable(String), n Nullable(UInt32), host Nullable(String), ts Nullable(Int64), seq Nullable(UInt64), labels Map(String, String), name Array(Nullable(String)), series_labels Array(Map(String, String)), value Array(Nullable(Float64)), raw Array(Nullable(Float64)), ewma Array(Nullable(Float64)), wma Array(Nullable(Float64)), outlier Array(Nullable(Bool)))') AS b
    FROM ${database}.metric_blocks_ingest
);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metric_blocks_rows_mv TO ${database}.metrics AS
SELECT
    host,
    fromUnixTimestamp64Milli(ts, 'UTC') AS ts,
    assumeNotNull(name) AS name,
    mapUpdate(topo, sl) AS labels,
    labels['rack'] AS rack,
    assumeNotNull(v) AS value,
    assumeNotNull(r) AS raw,
    ifNull(e, nan) AS ewma,
    ifNull(w, nan) AS wma,
    ifNull(o, false) AS outlier,
    seq
FROM
(
    SELECT assumeNotNull(b.host) AS host, assumeNotNull(b.ts) AS ts, assumeNotNull(b.seq) AS seq,
           b.labels AS topo, b.name AS names, b.series_labels AS sls, b.value AS vs,
           b.raw AS rs, b.ewma AS es, b.wma AS ws, b.outlier AS os
    FROM ${database}.metric_blocks_parsed
    WHERE code = '' AND b.ts >= 0 AND b.ts < 10413792000000 AND length(b.host) <= 1048576
)
ARRAY JOIN names AS name, sls AS sl, vs AS v, rs AS r, es AS e, ws AS w, os AS o
WHERE name IS NOT NULL AND v IS NOT NULL AND r IS NOT NULL AND length(name) <= 1048576;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metric_blocks_bad_rows_mv TO ${database}.deadletter AS
SELECT
    now64(3) AS rejected_at,
    multiIf(name IS NULL OR v IS NULL OR r IS NULL, 'missing_field',
            bad_ts, 'bad_value',
            'too_large') AS reason_code,
    multiIf(reason_code = 'missing_field', concat('missing or not convertible: ', arrayStringConcat(
                arrayFilter((f, bad) -> bad, ['name', 'value', 'raw'],
                            [name IS NULL, v IS NULL, r IS NULL]), ', ')),
            reason_code = 'bad_value',
                concat('ts=', toString(ts), ' is not a storable epoch-millisecond time'),
            'host or name larger than 1048576 bytes') AS reason,
    topic AS source_topic,
    partition AS source_partition,
    offset AS source_offset,
    nullIf(key, '') AS key,
    toJSONString(CAST((host, ts, seq, name, mapUpdate(topo, sl), v, r, e, w, o),
        'Tuple(host String, ts Int64, seq UInt64, name Nullable(String), labels Map(String, String), value Nullable(Float64), raw Nullable(Float64), ewma Nullable(Float64), wma Nullable(Float64), outlier Nullable(Bool))')) AS raw,
    'utf-8' AS raw_encoding,
    'sink' AS origin
FROM
(
    SELECT topic, partition, offset, key, assumeNotNull(b.host) AS host,
           assumeNotNull(b.ts) AS ts, assumeNotNull(b.seq) AS seq,
           b.ts < 0 OR b.ts >= 10413792000000 AS bad_ts,
           length(b.host) > 1048576 AS long_host,
           b.labels AS topo, b.name AS names, b.series_labels AS sls, b.value AS vs,
           b.raw AS rs, b.ewma AS es, b.wma AS ws, b.outlier AS os
    FROM ${database}.metric_blocks_parsed
    WHERE code = '' AND (bad_ts OR long_host OR has(b.name, NULL) OR has(b.value, NULL)
                         OR has(b.raw, NULL)
                         OR arrayExists(x -> length(x) > 1048576, b.name))
)
ARRAY JOIN names AS name, sls AS sl, vs AS v, rs AS r, es AS e, ws AS w, os AS o
WHERE name IS NULL OR v IS NULL OR r IS NULL OR bad_ts OR long_host OR length(name) > 1048576;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metric_blocks_bad_mv TO ${database}.deadletter AS
SELECT
    now64(3) AS rejected_at,
    code AS reason_code,
    multiIf(code = 'bad_json', 'undecodable JSON',
            code = 'bad_type', concat('message is a JSON ', toString(JSONType(doc)),
                                      ', not an array of records or a metric block'),
            code = 'unknown_schema', concat('object with schema ', ifNull(b.schema, '(none)'),
                                            ' where rackwatch.metric_block/v1 was expected'),
            code = 'missing_field', concat('metric block without ', arrayStringConcat(
                arrayFilter((f, bad) -> bad, ['host', 'ts', 'seq', 'n'],
                            [b.host IS NULL, b.ts IS NULL, b.seq IS NULL, b.n IS NULL]), ', ')),
            concat('metric block columns are not all n=', toString(b.n), ' long')) AS reason,
    topic AS source_topic,
    partition AS source_partition,
    offset AS source_offset,
    nullIf(key, '') AS key,
    doc AS raw,
    'utf-8' AS raw_encoding,
    'sink' AS origin
FROM ${database}.metric_blocks_parsed
WHERE code != '';
