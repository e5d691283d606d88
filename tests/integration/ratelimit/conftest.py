"""Rate-limit helpers: apps in process are started with limit overrides by the shared `started_app`
(`await started_app(rate_limit_per_ip="3/minute")`), each seen from a chosen client IP (`client_of`)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.support.apps import asgi_client


def client_of(app: FastAPI, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    return asgi_client(app, ip)
