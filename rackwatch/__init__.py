"""rackwatch: streaming monitoring, alerting and fault diagnosis for AI datacenters."""

from common import __version__

__all__ = ["__version__"]
