"""Run every ``benchmarks/bench_*.py`` script in turn (``make bench``).

Each script prints its own figures, as ratios against a baseline measured in
the same run, and exits non-zero when a target is missed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    """Run the benchmark scripts and return non-zero if any failed."""
    here = Path(__file__).resolve().parent
    failed: list[str] = []
    for script in sorted(here.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print("missed targets or failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
