-- Metric blocks: the worker sends each batch's rows as one `rackwatch.metric_block/v1`
-- object (the rows as columns, streams/core/block.py) instead of an array of
-- metric_row/v1 records: a third of the bytes, no dict per row in the worker, and a
-- parse that ClickHouse does about 4x faster. The sink inserts messages that are JSON
-- objects into `metric_blocks_ingest` (arrays still go to `metrics_ingest`), in the
-- same column-oriented form and with the batch's deduplication token. Three views
-- route them, each inside the one insert:
--   metric_blocks_store_mv: the rows of a valid block -> `metrics` (and so the rollups),
--     each row exactly as the array view would store the same record (a row's labels
--     are its series labels over the block's topology labels);
--   metric_blocks_reject_mv: rows of a valid block that the array view would refuse
--     (no name, value or raw; ts not storable; host or name too large) -> `deadletter`,
--     one per row, with the same reason codes and the row as JSON;
--   metric_blocks_badmsg_mv: a message that is not a valid block as a whole (another
--     schema: unknown_schema; no host, ts, seq or n: missing_field; columns not all n
--     long: bad_value; not JSON: bad_json; not an object: bad_type) -> `deadletter` once.
-- Each view decodes in nested subqueries so that every intermediate value is a column:
-- ClickHouse re-analyses an aliased expression at every use, and with the decode used
-- a few dozen times the analysis alone cost ~40 ms per insert.
-- rackwatch:shard_key cityHash64(key)
CREATE TABLE IF NOT EXISTS ${database}.metric_blocks_ingest
(
    topic      LowCardinality(String),
    partition  Int32,
    offset     Int64,
    key        String,
    doc        String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metric_blocks_store_mv TO ${database}.metrics AS
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
    FROM
    (
        SELECT JSONExtract(doc, 'Tuple(schema Nullable(String), n Nullable(UInt32), host Nullable(String), ts Nullable(Int64), seq Nullable(UInt64), labels Map(String, String), name Array(Nullable(String)), series_labels Array(Map(String, String)), value Array(Nullable(Float64)), raw Array(Nullable(Float64)), ewma Array(Nullable(Float64)), wma Array(Nullable(Float64)), outlier Array(Nullable(Bool)))') AS b
        FROM ${database}.metric_blocks_ingest
    )
    WHERE ifNull(b.schema = 'rackwatch.metric_block/v1' AND b.host IS NOT NULL
                 AND b.ts IS NOT NULL AND b.seq IS NOT NULL AND length(b.name) = b.n
                 AND length(b.series_labels) = b.n AND length(b.value) = b.n
                 AND length(b.raw) = b.n AND length(b.ewma) = b.n AND length(b.wma) = b.n
                 AND length(b.outlier) = b.n, false)
      AND b.ts >= 0 AND b.ts < 10413792000000 AND length(b.host) <= 1048576
)
ARRAY JOIN names AS name, sls AS sl, vs AS v, rs AS r, es AS e, ws AS w, os AS o
WHERE name IS NOT NULL AND v IS NOT NULL AND r IS NOT NULL AND length(name) <= 1048576;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metric_blocks_reject_mv TO ${database}.deadletter AS
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
    FROM
    (
        SELECT topic, partition, offset, key, JSONExtract(doc, 'Tuple(schema Nullable(String), n Nullable(UInt32), host Nullable(String), ts Nullable(Int64), seq Nullable(UInt64), labels Map(String, String), name Array(Nullable(String)), series_labels Array(Map(String, String)), value Array(Nullable(Float64)), raw Array(Nullable(Float64)), ewma Array(Nullable(Float64)), wma Array(Nullable(Float64)), outlier Array(Nullable(Bool)))') AS b
        FROM ${database}.metric_blocks_ingest
    )
    WHERE ifNull(b.schema = 'rackwatch.metric_block/v1' AND b.host IS NOT NULL
                 AND b.ts IS NOT NULL AND b.seq IS NOT NULL AND length(b.name) = b.n
                 AND length(b.series_labels) = b.n AND length(b.value) = b.n
                 AND length(b.raw) = b.n AND length(b.ewma) = b.n AND length(b.wma) = b.n
                 AND length(b.outlier) = b.n, false)
)
ARRAY JOIN names AS name, sls AS sl, vs AS v, rs AS r, es AS e, ws AS w, os AS o
WHERE name IS NULL OR v IS NULL OR r IS NULL OR bad_ts OR long_host OR length(name) > 1048576;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metric_blocks_badmsg_mv TO ${database}.deadletter AS
SELECT
    now64(3) AS rejected_at,
    code AS reason_code,
    multiIf(code = 'bad_json', 'undecodable JSON',
            code = 'bad_type', concat('message is a JSON ', kind,
                                      ', not an array of records or a metric block'),
            code = 'unknown_schema', concat('object with schema ', ifNull(schema, '(none)'),
                                            ' where rackwatch.metric_block/v1 was expected'),
            code = 'missing_field', concat('metric block without ', arrayStringConcat(
                arrayFilter((f, bad) -> bad, ['host', 'ts', 'seq', 'n'],
                            [no_host, no_ts, no_seq, n IS NULL]), ', ')),
            concat('metric block columns are not all n=', toString(n), ' long')) AS reason,
    topic AS source_topic,
    partition AS source_partition,
    offset AS source_offset,
    nullIf(key, '') AS key,
    doc AS raw,
    'utf-8' AS raw_encoding,
    'sink' AS origin
FROM
(
    SELECT topic, partition, offset, key, doc, kind, b.schema AS schema, b.n AS n,
           b.host IS NULL AS no_host, b.ts IS NULL AS no_ts, b.seq IS NULL AS no_seq,
           multiIf(NOT valid, 'bad_json',
                   kind != 'Object', 'bad_type',
                   ifNull(b.schema != 'rackwatch.metric_block/v1', true), 'unknown_schema',
                   no_host OR no_ts OR no_seq OR n IS NULL, 'missing_field',
                   ifNull(length(b.name) != n OR length(b.series_labels) != n
                          OR length(b.value) != n OR length(b.raw) != n
                          OR length(b.ewma) != n OR length(b.wma) != n
                          OR length(b.outlier) != n, true), 'bad_value',
                   '') AS code
    FROM
    (
        SELECT topic, partition, offset, key, doc, isValidJSON(doc) AS valid,
               toString(JSONType(doc)) AS kind,
               JSONExtract(doc, 'Tuple(schema Nullable(String), n Nullable(UInt32), host Nullable(String), ts Nullable(Int64), seq Nullable(UInt64), name Array(Nullable(String)), series_labels Array(Map(String, String)), value Array(Nullable(Float64)), raw Array(Nullable(Float64)), ewma Array(Nullable(Float64)), wma Array(Nullable(Float64)), outlier Array(Nullable(Bool)))') AS b
        FROM ${database}.metric_blocks_ingest
    )
)
WHERE code != '';
