"""Notification templates: one notification name → a subject, a plain-text body and an HTML body.

Each notification has three files under `templates/`: `<name>.subject.txt`, `<name>.txt` and
`<name>.html` (the HTML ones extend `_layout.html`). Autoescaping is on for `.html` only
(`select_autoescape(["html"])`), so user data is escaped in HTML and left as typed in text, and
`StrictUndefined` makes a missing variable an error rather than an empty string. The subject is
collapsed to one line.

The variables each template uses are the ones `notifications.template_data.template_data` supplies:

    every notification    email
    welcome               plan
    payment_receipt       payment_id, amount, description
    payment_failed        payment_id, amount, description, failure_message
    refund_issued         payment_id, amount, description, refund_id, refund_amount
    password_reset        token, expires_at

Failures raise `notifications.errors.RenderingError`: an unknown notification, a missing variable,
a broken template. None of them gets better by retrying.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from seawall.notifications.errors import RenderingError

NOTIFICATIONS = ("welcome", "payment_receipt", "payment_failed", "password_reset", "refund_issued")


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


@functools.cache
def template_environment() -> jinja2.Environment:
    """The one Jinja2 environment, built on first use (not at import)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("seawall.notifications", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template_name: str, context: Mapping[str, Any]) -> RenderedMessage:
    """Render one notification (a name from `NOTIFICATIONS`) with `context`."""
    if template_name not in NOTIFICATIONS:
        raise RenderingError(f"no notification template named {template_name!r}",
                             details={"template": template_name})
    environment = template_environment()
    values = dict(context)
    try:
        subject = environment.get_template(f"{template_name}.subject.txt").render(values)
        text = environment.get_template(f"{template_name}.txt").render(values)
        html = environment.get_template(f"{template_name}.html").render(values)
    except jinja2.TemplateError as exc:
        raise RenderingError(f"template {template_name!r} failed to render: {exc}",
                             details={"template": template_name}) from exc
    return RenderedMessage(subject=" ".join(subject.split()), text=text, html=html)
