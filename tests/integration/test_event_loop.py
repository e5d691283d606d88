"""Every command's event loop is uvloop (`cli.runner.run_with_runtime`), as the HTTP roles' is."""

from __future__ import annotations

import asyncio
from pathlib import Path

from seawall.cli.runner import run_with_runtime
from seawall.config import Settings
from seawall.runtime import Runtime


def test_commands_run_on_uvloop(tmp_path: Path) -> None:
    async def loop_module(_runtime: Runtime) -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_with_runtime(loop_module, settings=Settings(var_dir=tmp_path)) == "uvloop"
