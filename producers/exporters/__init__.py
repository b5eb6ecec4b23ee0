"""Reading Prometheus exporters: the agent's scrape targets.

- `exposition`: text / OpenMetrics bodies as families (prometheus-client's parser).
- `intervals`: what happened between two scrapes (reset-safe increases, histogram
  quantiles and means of the interval).
- `known`: the recognised exporters (vLLM, Triton, TGI, DCGM) and their catalogue names.
- `node`: node_exporter's families as the agent's own host snapshot.
- `reader`: one target's scrape -> catalogue samples (pure, stateful between scrapes).
- `scrape`: the imperative edge (HTTP, TLS, tokens, timing) the agent runs.
"""
