"""A small legacy application for the legacy-bridge tests (issue 16), run as its own process behind a
`seawall` process: `python -m tests.support.legacy_app --port N`. `LegacyApp` (in `process.py`)
starts, stops and kills it and reads what it recorded.

Its routes (`app.py` gathers them):
- `echo.py`: any method on any path not below → what arrived (method, path, raw path, query, every
  header, the body's length and SHA-256, read as a stream); `GET /download?bytes=N` streams N bytes;
  `GET /redirect` answers 302; `GET /slow?seconds=S` answers late; `GET /status/{code}` answers it;
- `accounts.py`: the legacy versions of the routes the shadow tests compare with Seawall's;
- `sessions.py`: the legacy log-in, session introspection, and a route that checks `Seawall-User`;
- control (`/_legacy/...`): `GET /_legacy/effects` (each side effect performed, counted),
  `GET /_legacy/requests` (every request's method, path and headers, in order), `POST /_legacy/reset`.
"""
