"""`seawall demo`: the main job. See `run.py`."""

from seawall.cli.demo.run import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
