-- "One metric across the fleet over a time range" as cheap as "one host": `metrics` is
-- ordered (host, name, ts), so a query for one metric over a few minutes read, for every
-- host, at least the granule (8,192 rows) its rows of that metric start in. A projection
-- keeps the columns such queries read (host, ts, name, labels, rack, value) a second
-- time, ordered (name, ts, host); ClickHouse picks it for a query that filters on name
-- and reads only those columns, and the table's own order for everything else (one
-- host, or raw / ewma / wma / outlier / seq). Measured on 10M rows
-- (benchmarks/store_layout.py, docs/storage.md): rows read and time before and after,
-- and what it adds to an insert.
--
-- In place and safe to repeat: the projection is added only if missing (new parts have
-- it from then on); materializing it for the parts written before is a mutation run in
-- the background, also on the embedded engine, whose default would wait for it (~2.3 us
-- of CPU per stored row: 25 s per 10M rows, measured): the sink starts at once, the
-- store stays readable and writable, and until a part has the projection queries read
-- that part in the table's order. Run again after an interruption, it rebuilds the same
-- projection.
ALTER TABLE ${database}.metrics
    ADD PROJECTION IF NOT EXISTS by_name
    (SELECT host, ts, name, labels, rack, value ORDER BY (name, ts, host));

ALTER TABLE ${database}.metrics MATERIALIZE PROJECTION by_name SETTINGS mutations_sync = 0;
