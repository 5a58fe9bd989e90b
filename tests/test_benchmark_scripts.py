"""The benchmark scripts still run against the fakes they drive (``make bench``).

A change to a fake (a new admission rule, a new required field) can break a
benchmark that no other test runs. Only ``bench_runai.py`` runs here: its
targets are request counts, which a loaded machine does not change. The
timing benchmarks stay in ``make bench``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_run_ai_benchmark_runs_and_meets_its_request_targets() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_runai.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "create: 6 requests (target 6)" in done.stdout
