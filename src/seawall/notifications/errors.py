"""Notifications errors (see the tree in `seawall.errors`)."""

from __future__ import annotations

from seawall.errors import SeawallError


class RenderingError(SeawallError):
    """A notification could not be rendered: an unknown template, a missing variable, a broken
    template. Raised inside the send job; retrying does not help."""

    error_type = "rendering_error"
