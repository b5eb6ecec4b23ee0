-- Metric blocks: the worker sends each batch's rows as one `rackwatch.metric_block/v1`
-- object (the rows as columns, streams/core/block.py) instead of an array of
-- metric_row/v1 records; a third of the bytes, and ClickHouse parses it about 4x faster.
-- A block goes through metrics_ingest like an array. This view expands it into exactly
-- the records metrics_parse_mv makes of the equivalent array (a row's labels are its
-- series labels over the block's topology labels) and checks each the same way, so
-- both forms land in `metrics`, the rollups and `deadletter` identically, under the
-- same insert and deduplication token. Arrays of rows are still accepted.
-- A block that cannot be expanded as a whole (another schema, a missing host, ts or
-- seq, columns of different lengths) is dead-lettered once, as a message, by the
-- replaced metrics_badmsg_mv; its rows are then not expanded at all.
-- rackwatch:shard_key cityHash64(key)
CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_block_mv TO ${database}.metrics_parsed AS
WITH
    JSONExtract(doc, 'Tuple(schema Nullable(String), n Nullable(UInt32), host Nullable(String), ts Nullable(Int64), seq Nullable(UInt64), labels Map(String, String), name Array(Nullable(String)), series_labels Array(Map(String, String)), value Array(Nullable(Float64)), raw Array(Nullable(Float64)), ewma Array(Nullable(Float64)), wma Array(Nullable(Float64)), outlier Array(Nullable(Bool)))') AS b,
    toUInt32(if(ifNull(b.schema = 'rackwatch.metric_block/v1' AND b.host IS NOT NULL
                       AND b.ts IS NOT NULL AND b.seq IS NOT NULL AND b.n IS NOT NULL
                       AND length(b.name) = b.n AND length(b.series_labels) = b.n
                       AND length(b.value) = b.n AND length(b.raw) = b.n
                       AND length(b.ewma) = b.n AND length(b.wma) = b.n
                       AND length(b.outlier) = b.n, false),
                assumeNotNull(b.n), 0)) AS k,
    CAST(('rackwatch.metric_row/v1', b.host, b.ts, name, mapUpdate(b.labels, series_labels),
          value, raw, ewma, wma, outlier, b.seq),
         'Tuple(schema Nullable(String), host Nullable(String), ts Nullable(Int64), name Nullable(String), labels Map(String, String), value Nullable(Float64), raw Nullable(Float64), ewma Nullable(Float64), wma Nullable(Float64), outlier Nullable(Bool), seq Nullable(UInt64))') AS p
SELECT
    topic,
    partition,
    offset,
    key,
    if(reason_code = '', '', toJSONString(p)) AS rec,
    p AS r,
    multiIf(p.name IS NULL OR p.value IS NULL OR p.raw IS NULL, 'missing_field',
            p.ts < 0 OR p.ts >= 10413792000000, 'bad_value',
            length(p.host) > 1048576 OR length(p.name) > 1048576, 'too_large',
            '') AS reason_code,
    multiIf(reason_code = '', '',
            reason_code = 'missing_field', concat('missing or not convertible: ', arrayStringConcat(
                arrayFilter((f, bad) -> bad, ['name', 'value', 'raw'],
                            [p.name IS NULL, p.value IS NULL, p.raw IS NULL]), ', ')),
            reason_code = 'bad_value',
                concat('ts=', toString(p.ts), ' is not a storable epoch-millisecond time'),
            'host or name larger than 1048576 bytes') AS reason
FROM ${database}.metrics_ingest
ARRAY JOIN arrayResize(b.name, k) AS name, arrayResize(b.series_labels, k) AS series_labels,
           arrayResize(b.value, k) AS value, arrayResize(b.raw, k) AS raw,
           arrayResize(b.ewma, k) AS ewma, arrayResize(b.wma, k) AS wma,
           arrayResize(b.outlier, k) AS outlier
WHERE startsWith(doc, '{');

DROP VIEW IF EXISTS ${database}.metrics_badmsg_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.metrics_badmsg_mv TO ${database}.deadletter AS
WITH
    JSONExtract(doc, 'Tuple(schema Nullable(String), n Nullable(UInt32), host Nullable(String), ts Nullable(Int64), seq Nullable(UInt64), name Array(Nullable(String)), series_labels Array(Map(String, String)), value Array(Nullable(Float64)), raw Array(Nullable(Float64)), ewma Array(Nullable(Float64)), wma Array(Nullable(Float64)), outlier Array(Nullable(Bool)))') AS b,
    isValidJSON(doc) AS valid,
    JSONType(doc) AS kind,
    multiIf(NOT valid, 'bad_json',
            kind = 'Array', '',
            kind != 'Object', 'bad_type',
            b.schema IS NULL OR b.schema != 'rackwatch.metric_block/v1', 'unknown_schema',
            b.host IS NULL OR b.ts IS NULL OR b.seq IS NULL OR b.n IS NULL, 'missing_field',
            length(b.name) != b.n OR length(b.series_labels) != b.n OR length(b.value) != b.n
                OR length(b.raw) != b.n OR length(b.ewma) != b.n OR length(b.wma) != b.n
                OR length(b.outlier) != b.n, 'bad_value',
            '') AS code
SELECT
    now64(3) AS rejected_at,
    code AS reason_code,
    multiIf(code = 'bad_json', 'undecodable JSON',
            code = 'bad_type', concat('message is a JSON ', toString(kind),
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
FROM ${database}.metrics_ingest
WHERE code != '';
