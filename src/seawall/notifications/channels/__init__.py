"""Delivery channels as strategies. A new channel is one module here with a class registered by
`@register_channel`; `build_channels` discovers the modules, so nothing else changes. See `base.py`."""

from __future__ import annotations

import importlib
import pkgutil

from seawall.config import Settings
from seawall.notifications.channels.base import (
    Channel,
    ChannelRegistry,
    Recipient,
    channel_registry,
    register_channel,
)


def build_channels(settings: Settings) -> dict[str, Channel]:
    """Import every channel module of this package (registering it) and build each channel."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    return channel_registry.build(settings)


__all__ = ["Channel", "ChannelRegistry", "Recipient", "build_channels", "channel_registry", "register_channel"]
