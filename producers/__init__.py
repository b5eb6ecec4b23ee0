"""rackwatch producers."""
