"""Time pre-flight checks against the local fake Hub, uncached and cached.

Run with ``python benchmarks/bench_preflight.py [N]``. It starts the fake Hub
from ``tests/preflight/fake_hub.py`` on 127.0.0.1 (never the real Hub), runs N
checks with an empty cache and N with a warm one, and prints the median time
and the HTTP requests per check. Targets: under 1 s and at most 2 requests.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from preflight.fake_hub import FakeHub  # noqa: E402

from airflow_provider_hfinfer.checks.preflight import (  # noqa: E402
    PreflightRequest,
    clear_cache,
    run_preflight,
)

GIB = 1024**3
TARGET_SECONDS = 1.0
TARGET_REQUESTS = 2


def _run(
    hub: FakeHub, request: PreflightRequest, runs: int, *, cached: bool
) -> tuple[float, float]:
    """Return (median seconds, mean requests) per check."""
    times: list[float] = []
    requests: list[int] = []
    if cached:
        run_preflight(request, mode="warn")
    for _ in range(runs):
        if not cached:
            clear_cache()
        hub.reset()
        started = time.perf_counter()
        run_preflight(request, mode="warn")
        times.append(time.perf_counter() - started)
        requests.append(hub.count)
    return statistics.median(times), statistics.mean(requests)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    hub = FakeHub().start()
    os.environ["HF_ENDPOINT"] = hub.url
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    request = PreflightRequest(
        model_id="unsloth/Meta-Llama-3.1-70B", gpus=4, gpu_memory_bytes=80 * GIB
    )
    try:
        started = time.perf_counter()
        run_preflight(request, mode="warn")
        first = time.perf_counter() - started
        clear_cache()
        uncached = _run(hub, request, runs, cached=False)
        cached = _run(hub, request, runs, cached=True)
    finally:
        hub.stop()
    print(f"first check in this process (imports huggingface_hub): {first * 1000:.1f} ms")
    ok = True
    for label, (median, requests) in (("uncached", uncached), ("cached", cached)):
        passed = median < TARGET_SECONDS and requests <= TARGET_REQUESTS
        ok = ok and passed
        print(
            f"{label:>8}: median {median * 1000:.2f} ms per check, "
            f"{requests:.1f} request(s) per check over {runs} runs "
            f"[{'ok' if passed else 'MISSED TARGET'}]"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
