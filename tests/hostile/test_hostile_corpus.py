"""Every broken or hostile workload file is refused by ``hfinfer validate`` in one line.

The corpus is ``files/`` (small cases, committed) plus the large, binary and
pathological cases ``hostile_corpus.py`` generates. Each file must exit 1 with
exactly one line on stderr that names the file and contains the case's expected
fragment, no traceback, never the canary token, within 5 seconds; run as a real
process (the installed ``hfinfer`` script) it must also stay under 200 MB.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hostile_corpus import FILES, TOKEN, generated_cases, write_corpus

from airflow_provider_hfinfer.cli import main

SECONDS = 5.0
MAX_RSS_BYTES = 200 * 1024 * 1024
CANARY_PARTS = (TOKEN, TOKEN[:8], "sk-CorpusCanaryApiKey", "plain-key-value")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, str | None]:
    return write_corpus(tmp_path_factory.mktemp("hostile"))


def _names() -> list[str]:
    committed = sorted(path.name for path in FILES.iterdir() if path.suffix != ".expect")
    return committed + sorted(generated_cases())


def test_the_corpus_has_at_least_100_files_each_with_an_expectation(
    corpus: dict[Path, str | None],
) -> None:
    assert len(corpus) >= 100
    assert [path.name for path, expect in corpus.items() if not expect] == []


def _check_output(path: Path, expect: str | None, code: int, out: str, err: str) -> None:
    lines = err.splitlines()
    assert code == 1, (code, err)
    assert out == ""
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: "), lines[0]
    assert "Traceback" not in err and "Error:" not in err.split(": ", 1)[0]
    assert expect is None or expect in lines[0], (expect, lines[0])
    leaked = [part for part in CANARY_PARTS if part in err]
    assert leaked == [], lines[0]
    assert "\x1b" not in err and "\x00" not in err  # no raw control bytes reach a terminal


@pytest.mark.parametrize("name", _names())
def test_validate_refuses_the_file_in_one_line(
    corpus: dict[Path, str | None], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = next(path for path in corpus if path.name == name)
    out = io.StringIO()
    started = time.perf_counter()
    code = main(["validate", str(path)], out=out)
    elapsed = time.perf_counter() - started
    _check_output(path, corpus[path], code, out.getvalue(), capsys.readouterr().err)
    assert elapsed < SECONDS, f"{name} took {elapsed:.1f}s"


def _hfinfer() -> list[str]:
    script = Path(sys.executable).with_name("hfinfer")
    return (
        [str(script)] if script.exists() else [sys.executable, "-m", "airflow_provider_hfinfer.cli"]
    )


# A small launcher forks and execs the command and reports the child's own peak RSS.
# (Measured from the test process itself, ru_maxrss would include the pages a forked
# child shares with its parent before exec: the whole pytest process with Airflow.)
# Hard stops in case a bound fails: 10 CPU seconds, 2 GiB of address space.
_LAUNCHER = """
import os, resource, sys
report, command = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_CPU, (10, 10))
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    os.execv(command[0], command)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss * 1024}")
"""


def _run_measured(path: Path) -> tuple[int, str, str, float, int]:
    """Run ``hfinfer validate path``; return code, stdout, stderr, seconds and peak RSS."""
    report = path.with_name(path.name + ".rusage")
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            _LAUNCHER,
            str(report),
            *_hfinfer(),
            "validate",
            str(path),
        ],
        capture_output=True,
        timeout=30,  # a hung child (a broken bound) fails the test instead of hanging it
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    seconds = time.perf_counter() - started
    code, rss = (int(part) for part in report.read_text().split())
    assert done.returncode == 0, done.stderr
    return code, done.stdout.decode(), done.stderr.decode(), seconds, rss


def _sample(corpus: dict[Path, str | None]) -> list[Path]:
    generated = set(generated_cases())
    committed = [path for path in corpus if path.name not in generated]
    # Every generated case (the large and pathological ones) and every 4th committed one.
    return [path for path in corpus if path.name in generated] + committed[::4]


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kilobytes on Linux")
def test_the_real_command_stays_within_5_seconds_and_200_mb(
    corpus: dict[Path, str | None],
) -> None:
    sample = _sample(corpus)
    assert len(sample) >= 40
    if _hfinfer()[0] == sys.executable:
        pytest.skip("the hfinfer script is not installed next to this Python")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(sample, pool.map(_run_measured, sample), strict=True))
    problems = []
    for path, (code, out, err, seconds, rss) in results.items():
        try:
            _check_output(path, corpus[path], code, out, err)
        except AssertionError as failure:
            problems.append(f"{path.name}: {failure}")
        if seconds >= SECONDS or rss >= MAX_RSS_BYTES:
            problems.append(f"{path.name}: {seconds:.1f}s, {rss / 2**20:.0f} MB")
    assert problems == []
