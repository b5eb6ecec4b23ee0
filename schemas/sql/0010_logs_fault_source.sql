-- Which layer classified a log line's fault (log_record/v1 `fault_source`): `catalogue`
-- (an entry of streams/logs/faults.yaml), `generic` (the line's own failure words) or
-- `novel` (a failure-ish template new on its host); empty when the line has no fault.
-- Additive: older rows read as empty, older sinks simply do not write it.
ALTER TABLE ${database}.logs ADD COLUMN IF NOT EXISTS fault_source LowCardinality(String) AFTER fault_class;
