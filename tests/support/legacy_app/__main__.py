"""`python -m tests.support.legacy_app --port N [--host 127.0.0.1]`: serve the legacy app until SIGTERM."""

from __future__ import annotations

import argparse

import uvicorn

from tests.support.legacy_app.app import build_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    uvicorn.run(build_app(), host=options.host, port=options.port, log_level="warning", http="h11",
                lifespan="off", timeout_keep_alive=5)


if __name__ == "__main__":
    main()
