"""Benchmarks behind `seawall bench`: each measures Seawall and its ceiling in the same run."""
