"""Promise: production processes do not load the fake providers. Importing the CLI, the app factory
and the composition root loads no `seawall.sandbox` module, and `seawall --help` still offers
`seawall sandbox` (whose module is imported only when the command runs)."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from seawall.cli.main import app

PROBE = (
    "import json, sys\n"
    "import seawall.cli.main, seawall.app, seawall.runtime, seawall.cli.demo.run, seawall.bench.pipeline\n"
    "print(json.dumps(sorted(name for name in sys.modules if name.split('.')[:2] == ['seawall', 'sandbox'])))\n"
)


def test_importing_the_cli_app_and_runtime_loads_no_sandbox_module() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(result.stdout) == []


DISCOVERY_PROBE = (
    "import json, sys\n"
    "from seawall.events import bus\n"
    "from seawall.jobs import load_job_modules\n"
    "load_job_modules(); bus.discover()\n"
    "print(json.dumps(sorted(name for name in sys.modules if name.split('.')[:2] in\n"
    "    (['seawall', 'sandbox'], ['seawall', 'bench'], ['seawall', 'cli'], ['seawall', 'admin']))))\n"
)


def test_finding_job_handlers_and_subscribers_imports_only_the_packages_that_hold_them() -> None:
    """Discovery looks for `tasks.py` and `subscribers.py` on disk: a worker's first job, or the
    first event a process publishes, loads neither the sandbox nor the CLI, the benches or admin."""
    result = subprocess.run([sys.executable, "-c", DISCOVERY_PROBE], capture_output=True, text=True, timeout=120,
                            check=True)
    assert json.loads(result.stdout) == []


def test_help_still_lists_the_sandbox_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "sandbox" in result.output
    assert "Run the sandbox providers" in result.output
