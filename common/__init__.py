"""The bottom layer every role shares: configuration, topics, the local broker, Kafka
client choices and the roles' own /metrics endpoint. It imports no other rackwatch
package (the layer contract in pyproject.toml, checked by `make lint`)."""

__version__ = "0.1.0"
