"""Promise: without `--html` nothing loads plotly. Importing the CLI, the demo and every bench (and the
recording side of the reports) leaves it unloaded; only writing a page imports it."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys\n"
    "import seawall.cli.main, seawall.cli.demo.run, seawall.bench.jobs, seawall.bench.write, seawall.bench.pipeline\n"
    "import seawall.bench.metrics_cost, seawall.reports.timeline, seawall.reports.probes, seawall.reports.html\n"
    "print(sorted(name for name in sys.modules if name.split('.')[0] == 'plotly'))\n"
)


def test_importing_the_commands_and_the_report_modules_loads_no_plotly() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
