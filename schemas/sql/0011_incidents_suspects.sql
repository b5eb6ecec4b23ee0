-- The ranked candidate causes of an incident (incident/v1 `suspects`: [{host, score,
-- reason}, ...], best first) as JSON; empty for incidents that rank none (host, rack,
-- job). Additive: older rows read as empty, older sinks simply do not write it.
ALTER TABLE ${database}.incidents ADD COLUMN IF NOT EXISTS suspects String CODEC(ZSTD(3)) AFTER suspect;
