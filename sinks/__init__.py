"""rackwatch sinks: the ClickHouse store and the sink that fills it.

- `sinks.store.open_store(cfg)`: the store (chDB or a server), migrated on open;
- `sinks.run.run_sink(cfg, stop=...)`: the sink process; `sinks.service.SinkService` its
  consuming (consume, batch, insert, commit);
- `sinks.query.run_query(cfg, sql, fmt)`: read-only queries, wherever the store is;
- `sinks.backup.backup` / `restore`: ClickHouse BACKUP / RESTORE of the database;
- `rackwatch.commands.store.register(sub)`: the `sink`, `query`, `backup` and `restore` commands.

See docs/storage.md.
"""
