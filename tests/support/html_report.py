"""Reading the HTML report of `seawall demo --html` / `seawall bench … --html` in acceptance tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from seawall.reports.html import CHARTS


def read_html_report(path: Path) -> dict[str, Any]:
    """Check the page is self-contained and has the four charts; return its embedded numbers."""
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", page), "a script loaded from elsewhere: not self-contained"
    assert not re.search(r"<link[^>]*\bhref=", page), "a stylesheet loaded from elsewhere"
    assert "Plotly.newPlot" in page and len(page) > 1_000_000, "plotly.js is not inlined"
    for chart_id, (_, title) in CHARTS.items():
        assert f'id="{chart_id}"' in page and title in page, chart_id
    match = re.search(r'<script type="application/json" id="seawall-report-data">(.*?)</script>', page, re.S)
    assert match is not None, "no embedded report data"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def peak(rows: list[list[float]]) -> float:
    """The largest value of a `[[t, value], ...]` series (0 when it is empty)."""
    return max((value for _, value in rows), default=0.0)
