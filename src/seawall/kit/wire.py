"""The base of every request body model: unknown fields are refused (422), never silently dropped,
so a client that sends `{"status": "succeeded"}` or a misspelt field learns it at once (OWASP API3,
mass assignment)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
