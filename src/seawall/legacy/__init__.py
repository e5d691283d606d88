"""The legacy bridge (issue 16; docs/legacy-bridge.md): Seawall in front of an existing backend,
adopted route by route.

With `SEAWALL_LEGACY_UPSTREAM` set, every request is looked up in the route table (`routes`): a route
marked `seawall` is served here, `legacy` is forwarded to the upstream (`proxy`), `shadow` is answered
by the upstream and also run here afterwards, off the request path, with every database transaction
rolled back, and the two answers compared (`shadow`, `compare`, `store`). A path the table does not
name is forwarded; Seawall's operational paths (`routes.RESERVED_PREFIXES`) never are.

- `upstream.py`: the upstream's base URL and the one way a target URL is built from it (pure);
- `keys.py`: the signing keys' format (pure; `config` validates with it);
- `routes.py`: the route table: its TOML format, matching, and the holder that reloads it;
- `proxy.py`: the streaming reverse proxy (httpx) behind the resilience policy;
- `bridge.py`: the ASGI dispatcher `app.py` installs (`LegacyBridgeMiddleware`);
- `shadow.py`: shadow calls (bounded, dry-run) and their recording;
- `compare.py`: what "the same answer" means: status and a JSON diff (RFC 6902) with ignored fields;
- `store.py`: the comparisons kept (table `legacy_shadow_comparisons`) and the report;
- `identity.py`: the signed `Seawall-User` header the upstream can trust;
- `introspection.py`: the legacy session accepted during the move (RFC 7662 introspection, cached).
"""
