"""The alert forwarder (`rackwatch forward`): alert state changes to Alertmanager and
webhooks, at least once, each target on its own (docs/forwarding.md)."""
