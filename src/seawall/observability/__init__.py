"""Logging (structlog JSON); metrics and tracing arrive with their issue."""
