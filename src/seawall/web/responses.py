"""`JSONBody`: a JSON response rendered by orjson (compact UTF-8, several times faster than the
standard library's encoder). For answers built from stored JSON documents (idempotent replays and
first answers alike), which FastAPI's own response-model serialization does not cover."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class JSONBody(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
