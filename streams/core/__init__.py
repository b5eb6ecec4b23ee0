"""The processing core: plain Python over plain data, shared by the faust workers and replay.

Nothing in here talks to Kafka, faust or ClickHouse, and nothing reads a clock: the
caller passes event time (and, for plausibility checks, wall time) in.
"""
