"""rackwatch: streaming monitoring, alerting and fault diagnosis for AI datacenters."""

__version__ = "0.1.0"
