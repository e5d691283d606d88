"""The `seawall` command line (typer)."""
