"""What a vLLM (or prewarm) container's log tail says about its cold start.

This module owns reading a log tail for the cold-start phase model: when each
line was written (the kubelet's RFC 3339 prefix of ``timestamps=true`` reads,
else vLLM's own ``INFO MM-DD HH:MM:SS`` prefix, else the elapsed time of the
tqdm bar that printed it), the moment weights stop downloading and start
loading (vLLM 0.6.4 prints ``Loading safetensors checkpoint shards`` once the
files are local, and ``Loading model weights took`` when they are on the
GPU), the bytes a prewarm Job reports, and the signatures of a stalled
download's likely causes (throttling, a gated model without a token, an
incomplete cache in offline mode, a full disk). Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ._fields import as_utc, parse_time

PREWARM_MARK = "hfinfer-prewarm:"
"""Prefix of every line the prewarm Job's script prints (see ``render/prewarm.py``)."""

_KUBELET_STAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))\s"
)
# vLLM 0.6.4's logger: "%(levelname)s %(asctime)s %(filename)s:%(lineno)d] %(message)s"
# with datefmt "%m-%d %H:%M:%S"; the line carries no year.
_VLLM_STAMP = re.compile(
    r"^(?:\(\w+ pid=\d+\)\s+)?(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) "
)
# tqdm's "[elapsed<remaining" as in "[00:12<00:36, 3.2s/it]".
_TQDM_ELAPSED = re.compile(r"\[(?:(\d+):)?(\d+):(\d{2})<")
_LOAD_START = re.compile(r"Loading (?:safetensors|pt) checkpoint shards|Loading model weights took")
_BYTES = re.compile(re.escape(PREWARM_MARK) + r" downloaded (\d+) of (\d+) bytes")
_PREWARM_DONE = re.compile(re.escape(PREWARM_MARK) + r" (cache complete|download complete)")

CAUSE_THROTTLED = "throttled"
CAUSE_GATED = "gated"
CAUSE_OFFLINE_MISS = "offline_miss"
CAUSE_DISK_FULL = "disk_full"

_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b429\b|Too Many Requests|rate.limit", re.IGNORECASE), CAUSE_THROTTLED),
    (
        re.compile(
            r"GatedRepoError|Cannot access gated repo|Access to model .* is restricted|"
            r"\b401 Client Error|\b403 Client Error"
        ),
        CAUSE_GATED,
    ),
    (
        re.compile(
            r"LocalEntryNotFoundError|OfflineModeIsEnabled|outgoing traffic has been disabled"
        ),
        CAUSE_OFFLINE_MISS,
    ),
    (re.compile(r"No space left on device", re.IGNORECASE), CAUSE_DISK_FULL),
)


@dataclass(frozen=True)
class LogLine:
    """One line of a log tail.

    Attributes:
        text: The line without its kubelet timestamp.
        at: When it was written, when the line (or its neighbours) tell.
    """

    text: str
    at: datetime | None


@dataclass(frozen=True)
class LogFacts:
    """What a log tail says about a start.

    Attributes:
        load_started: When weights were local and loading began (vLLM), or
            the prewarm download finished; ``None`` when not seen yet.
        load_seen: A load marker is in the tail, even if its time is unknown.
        bytes_done: Bytes the prewarm Job reported downloaded, last report.
        bytes_total: Bytes it expects in all.
        last_progress: When the tail last showed progress: the newest dated
            line, or for a prewarm Job the last report whose byte count grew.
        cause: A stalled start's likely cause seen in the tail
            (``throttled``, ``gated``, ``offline_miss``, ``disk_full``), or "".
        prewarm_done: The prewarm Job said the cache is complete.
    """

    load_started: datetime | None = None
    load_seen: bool = False
    bytes_done: int | None = None
    bytes_total: int | None = None
    last_progress: datetime | None = None
    cause: str = ""
    prewarm_done: bool = False


def _vllm_time(match: re.Match[str], anchor: datetime) -> datetime | None:
    month, day, hour, minute, second = (int(group) for group in match.groups())
    for year in (anchor.year, anchor.year + 1, anchor.year - 1):
        try:
            moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except ValueError:
            continue
        # The year is the anchor's unless that puts the line far off (New Year).
        if abs((moment - anchor).days) < 183:
            return moment
    return None


def _tqdm_elapsed(text: str) -> timedelta | None:
    found = _TQDM_ELAPSED.findall(text)
    if not found:
        return None
    hours, minutes, seconds = found[-1]
    return timedelta(hours=int(hours or 0), minutes=int(minutes), seconds=int(seconds))


def parse_lines(tail: str, anchor: datetime | None) -> list[LogLine]:
    """Split a log tail into dated lines.

    Args:
        tail: The log text (kubelet timestamps optional).
        anchor: A moment near the log's start (the container's start) that
            gives vLLM's year-less stamps their year; ``None`` skips them.

    Returns:
        The non-blank lines in order. A line without a stamp of its own (a tqdm
        bar) is dated from the next dated line minus the bar's elapsed time
        when that can be told, else left undated.
    """
    raw: list[tuple[str, datetime | None]] = []
    reference = as_utc(anchor) if anchor is not None else None
    # tqdm redraws with carriage returns; each redraw is a line of its own here.
    for piece in re.split(r"\r\n|\r|\n", tail):
        text, at = piece, None
        stamp = _KUBELET_STAMP.match(piece)
        if stamp is not None:
            at = parse_time(stamp.group(1))
            text = piece[stamp.end() :]
        if at is None and reference is not None:
            own = _VLLM_STAMP.match(text)
            at = _vllm_time(own, reference) if own else None
        if text.strip():
            raw.append((text.rstrip(), at))
    return [LogLine(text, at) for text, at in _date_bars(raw)]


def _date_bars(raw: list[tuple[str, datetime | None]]) -> list[tuple[str, datetime | None]]:
    """Date each run of undated tqdm redraws from the dated line that follows it.

    The bar started at that line's time minus the run's largest elapsed time;
    each redraw was printed at the bar's start plus its own elapsed time.
    """
    dated = list(raw)
    index = 0
    while index < len(dated):
        if dated[index][1] is not None:
            index += 1
            continue
        end = index
        while end < len(dated) and dated[end][1] is None:
            end += 1
        anchor = dated[end][1] if end < len(dated) else None
        elapsed = [_tqdm_elapsed(text) for text, _ in dated[index:end]]
        known = [span for span in elapsed if span is not None]
        if anchor is not None and known:
            bar_start = anchor - max(known)
            for offset, span in enumerate(elapsed):
                if span is not None:
                    dated[index + offset] = (dated[index + offset][0], bar_start + span)
        index = end
    return dated


def _prewarm_progress(lines: list[LogLine]) -> tuple[int | None, int | None, datetime | None]:
    done: int | None = None
    total: int | None = None
    grew_at: datetime | None = None
    for line in lines:
        match = _BYTES.search(line.text)
        if match is None:
            continue
        now_done, total = int(match.group(1)), int(match.group(2))
        if done is None or now_done > done:
            grew_at = line.at or grew_at
        done = now_done
    return done, total, grew_at


def read_log(tail: str | None, anchor: datetime | None) -> LogFacts:
    """Read the cold-start facts out of a container's log tail (``None``: not read)."""
    if not tail:
        return LogFacts()
    lines = parse_lines(tail, anchor)
    marker = next((line for line in lines if _LOAD_START.search(line.text)), None)
    done, total, grew_at = _prewarm_progress(lines)
    dated = [line.at for line in lines if line.at is not None]
    newest = max(dated) if dated else None
    cause = ""
    for line in reversed(lines):
        cause = next((name for pattern, name in _CAUSES if pattern.search(line.text)), "")
        if cause:
            break
    return LogFacts(
        load_started=marker.at if marker is not None else None,
        load_seen=marker is not None,
        bytes_done=done,
        bytes_total=total,
        last_progress=grew_at if done is not None else newest,
        cause=cause,
        prewarm_done=any(_PREWARM_DONE.search(line.text) for line in lines),
    )
