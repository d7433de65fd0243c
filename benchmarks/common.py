"""What the benchmark scripts share: the project on sys.path, settings, timing and reporting."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# BENCH_PROJECT points a benchmark's helper process at another checkout of the project (the
# baseline commit browse.py compares with); by default the code beside this script runs.
PROJECT = Path(os.environ.get("BENCH_PROJECT") or ROOT)
sys.path.insert(0, str(PROJECT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hyperstudy_large")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hyperstudy_dash.settings")
EXPERIMENT = "exp_research_001"


def timed(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Median wall time in ms, after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def line(label: str, ours: float, base: float, target: float | None = None) -> bool:
    """Print one comparison (ours vs the baseline, in ms) and whether it meets ``target``."""
    ratio = ours / base if base else float("inf")
    ok = target is None or ratio <= target
    verdict = "" if target is None else ("  ok" if ok else f"  OVER {target}x")
    print(f"  {label:<58} {ours:9.1f} ms  vs {base:9.2f} ms  = {ratio:6.2f}x{verdict}")
    return ok
