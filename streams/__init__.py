"""rackwatch streams."""
