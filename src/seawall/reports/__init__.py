"""HTML run reports of `seawall demo --html` and `seawall bench … --html`.

- `timeline.py`: `Timeline`, the (t, value) rows recorded during a run, `Sampler`, which reads
  probes on its own thread every half second, and the per-bucket aggregations the charts draw;
- `probes.py`: what the sampler reads — jobs per state (the jobs table) and breaker state per
  payment route (the serving process's `/admin/providers`);
- `html.py`: one self-contained HTML page (plotly, its JavaScript inline) with four charts —
  latency percentiles, queue depth, breaker state, throughput, all over time — and the run's
  summary tables.

Nothing here runs unless a command is given `--html`: no timeline, no sampler, no plotly import.
"""
