"""Rendering speed of a workload that uses every field (target: median under 2 ms).

The baseline, measured in the same run, is a deep copy of the rendered
manifests: the cheapest thing one can do with the output. The ratio says how
many such copies one render costs, which is stable across machines.
"""

from __future__ import annotations

import copy
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from airflow_provider_hfinfer.render import RenderOptions, render_manifests  # noqa: E402
from airflow_provider_hfinfer.spec import InferenceWorkload  # noqa: E402

TARGET_MEDIAN_MS = 2.0


def _timings(func: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _heavy_modules(module: str) -> list[str]:
    code = (
        f"import sys, json; import {module}; print(json.dumps(sorted({{m.split('.')[0] "
        "for m in sys.modules} & {'kubernetes', 'airflow', 'huggingface_hub'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def main() -> int:
    """Measure and print; return 1 when the target is missed."""
    workload = InferenceWorkload.from_file(REPO / "examples" / "workload.yaml")
    options = RenderOptions.model_validate_json(
        json.dumps({"jwt_issuer": "https://sso.example.com"})
    )
    manifests = render_manifests(workload, namespace="team-a", options=options)
    for _ in range(50):  # warm up
        render_manifests(workload, namespace="team-a", options=options)
    render = _timings(lambda: render_manifests(workload, namespace="team-a", options=options), 2000)
    baseline = _timings(lambda: copy.deepcopy(manifests), 2000)
    validate = _timings(lambda: InferenceWorkload.model_validate(workload.model_dump()), 500)
    median, base = statistics.median(render), statistics.median(baseline)
    p95 = statistics.quantiles(render, n=20)[18]
    print(
        f"render (every field): median {median:.3f} ms, p95 {p95:.3f} ms "
        f"(target < {TARGET_MEDIAN_MS} ms)"
    )
    print(
        f"baseline deepcopy of output: median {base:.3f} ms; render/baseline = {median / base:.1f}x"
    )
    print(f"spec validation (every field): median {statistics.median(validate):.3f} ms")
    ok = median < TARGET_MEDIAN_MS
    for module in ("airflow_provider_hfinfer.spec", "airflow_provider_hfinfer.render"):
        heavy = _heavy_modules(module)
        print(f"import {module}: heavy modules loaded = {heavy or 'none'}")
        ok = ok and not heavy
    print("render benchmark:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
