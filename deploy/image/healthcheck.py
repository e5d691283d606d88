#!/usr/local/bin/python3
"""The image's health check, installed as `seawall-healthcheck`: exit 0 when a URL answers 2xx.

    seawall-healthcheck [URL]

URL defaults to `http://127.0.0.1:$SEAWALL_PORT/livez` (SEAWALL_PORT unset: 8000), the API's and
`serve`'s liveness route. A worker has no HTTP API: its health check names its metrics port instead
(SEAWALL_METRICS_PORT, where any path answers), e.g. `seawall-healthcheck http://127.0.0.1:9464/livez`.
Any other answer, a refused connection or no answer within 2 s is exit 1, with one line on stderr.

Standard library only, and no `seawall` import: it runs every few seconds, so it must start in
milliseconds, and the slim base image has no curl or wget.
"""

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 2.0


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else f"http://127.0.0.1:{os.environ.get('SEAWALL_PORT') or '8000'}/livez"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (a fixed local URL)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"seawall-healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    if 200 <= status < 300:
        return 0
    print(f"seawall-healthcheck: {url}: HTTP {status}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
