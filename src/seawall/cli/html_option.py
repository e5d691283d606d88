"""`--html FILE`, the one option of `seawall demo` and every `seawall bench …` command that writes a
self-contained HTML report of the run (`seawall.reports`). Without it nothing is sampled."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _writable_place(path: Path | None) -> Path | None:
    """Refuse, before a long run, a path whose directory does not exist or that is a directory."""
    if path is None:
        return None
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; give a file name such as {path / 'report.html'}")
    if not path.parent.is_dir():
        raise typer.BadParameter(f"the directory {path.parent} does not exist")
    return path


HtmlReportOption = Annotated[Path | None, typer.Option(
    "--html", metavar="FILE", callback=_writable_place,
    help="Also write a self-contained HTML report (charts over time: latency percentiles, queue depth, "
         "breaker state, throughput; opens offline) to FILE")]
