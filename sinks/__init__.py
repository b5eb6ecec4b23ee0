"""rackwatch sinks."""
