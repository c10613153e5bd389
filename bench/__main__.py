"""Run every ``bench_*`` module's ``main()``."""

import importlib
import pkgutil

import bench

for module_info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
    if module_info.name.startswith("bench_"):
        importlib.import_module(f"bench.{module_info.name}").main()
