"""Shared rules of the workload spec: limits, quantities, durations, the frozen base.

This module owns the constants every spec model checks against (name length,
node pools, thresholds, ports), the helpers that build a spec error naming the
field, the rule and the fix, quantity plausibility ("did you mean 80Gi?"),
durations, and the frozen, closed base model. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
)

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import kube_syntax as ks
from airflow_provider_hfinfer.spec.redact import shown, shown_arg

PROVIDER_PREFIX = "hfinfer.io"
"""Label and annotation prefix this provider writes; users may not set keys under it."""

NAME_SUFFIX_ROOM = 17
"""Characters Kubernetes appends to a Deployment name for pod names (``-<hash>-<id>``)."""

MAX_NAME_LENGTH = 63 - NAME_SUFFIX_ROOM
"""Longest workload name: pod names (name + 17 characters) stay valid 63-character labels."""

DEFAULT_IMAGE = "vllm/vllm-openai:v0.6.4"

VLLM_PORT = 8000
"""Port vLLM listens on in every replica (the Service, probes and metrics scraping use it)."""

METRICS_PATH = "/metrics"
"""Path of vLLM's Prometheus metrics."""

SCRAPE_ANNOTATIONS: Mapping[str, str] = MappingProxyType(
    {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(VLLM_PORT),
        "prometheus.io/path": METRICS_PATH,
    }
)
"""Pod annotations for annotation-based Prometheus discovery, added unless the user sets them."""

MAX_NODE_POOLS = 16
"""Most node pools a workload may list.

Every pool gets a preferred-scheduling term: the first weight 100, the others
``count - 1`` down to 1 (``render.scheduling.pool_weights``). Kubernetes takes
weights 1..100, so distinct weights need at most 100 pools; but the ladder only
works while it is steep (100/50 let default spreading move replicas out of the
first pool, 100/1 did not). At 16 pools the second pool weighs 15, under a sixth
of the first, and a priority list longer than that is a typo, not a placement plan.
"""

MAX_AUTOSCALING_THRESHOLD: Mapping[str, int] = MappingProxyType(
    {"latency": 600_000, "throughput": 10_000, "concurrency": 10_000}
)
"""Largest ``autoscaling.threshold`` per metric; a larger one would never add a replica.

latency: 600000 ms (10 minutes) of mean end-to-end latency; the scale-to-zero
interceptor and most gateways give up on a request before then.
throughput: 10000 completed requests per second per replica; one vLLM API
server process completes far fewer, even for one-token requests.
concurrency: 10000 running plus waiting requests per replica; vLLM runs 256 at
once by default (``--max-num-seqs``), so the rest queue for many minutes.
"""

HF_REPO_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")


def _fail(field: str, value: object, rule: str, fix: str) -> SpecError:
    # shown(): short, one line, a credential-like value cut to a redacted prefix.
    return SpecError(f"{field} ({shown(value)}) {rule}: {fix}")


def _fail_arg(field: str, arg: str, rule: str, fix: str) -> SpecError:
    # vllm.extra_args items are named by their option only: values may be secrets.
    return SpecError(f"{field} ({shown_arg(arg)}) {rule}: {fix}")


def _quantity_text(value: Any) -> Any:
    # YAML reads `cpu: 8` or `cpu: 0.5` as numbers; Kubernetes accepts them, so do we.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _reject_bool(value: Any, info: ValidationInfo) -> Any:
    # pydantic's lax mode reads True as 1; a boolean here is always a typo.
    if isinstance(value, bool):
        raise SpecError(f"{info.field_name} ({value!r}) is a boolean: write a number")
    return value


def _check_quantity(value: str) -> str:
    try:
        amount = ks.parse_quantity(value)
    except ValueError as err:
        raise SpecError(
            f"{err}: write a Kubernetes quantity such as '500m', '4', '16Gi' or '512Mi'"
        ) from err
    if amount <= 0:
        raise SpecError(f"{shown(value)} must be greater than zero: give a positive quantity")
    return value


_GIB = Decimal(2**30)
_MIB = Decimal(2**20)

# field -> (kind, least, most, why a value outside is a slip): a bare number is bytes
# (memory) or cores (cpu) to Kubernetes, so `gpu_memory: 80` would be 80 bytes.
_PLAUSIBLE: Mapping[str, tuple[str, Decimal, Decimal, str]] = MappingProxyType(
    {
        "compute.gpu_memory": (
            "bytes",
            _GIB,
            Decimal(2**40),
            "GPUs vLLM runs on have between 1Gi and 1Ti each",
        ),
        "compute.memory": (
            "bytes",
            256 * _MIB,
            Decimal(64 * 2**40),
            "a vLLM replica needs between 256Mi and 64Ti",
        ),
        "compute.cpu": (
            "cores",
            Decimal("0.1"),
            Decimal(1024),
            "a vLLM replica needs between 100m (0.1 core) and 1024 cores",
        ),
        "cache.size_limit": (
            "bytes",
            256 * _MIB,
            Decimal(2**50),
            "model weights need between 256Mi and 1Pi of disk",
        ),
    }
)

# What a unit slip most likely meant: the suffix written -> the suffix suggested.
_SMALL_BYTES_FIX = {"": "Gi", "m": "Mi", "k": "Mi", "Ki": "Mi", "M": "Gi", "Mi": "Gi"}
_LARGE_BYTES_FIX = {"Ti": "Gi", "T": "G", "Pi": "Gi", "P": "G", "Ei": "Gi", "E": "G", "Gi": "Mi"}


def _amount_text(kind: str, amount: Decimal) -> str:
    if kind == "cores":
        return f"{amount.normalize():f} cores"
    if amount < 1024:
        return f"{amount.normalize():f} bytes"
    exact = ks.format_bytes(amount) if amount == amount.to_integral_value() else ""
    return exact if not exact.isdigit() else f"about {amount / _GIB:.3g}Gi"


def _suggestion(kind: str, number: str, suffix: str, too_small: bool) -> str | None:
    if kind == "cores":
        if too_small and suffix in ("m", "u", "n"):
            return number
        if not too_small and suffix == "":
            return f"{number}m"
        return None
    table = _SMALL_BYTES_FIX if too_small else _LARGE_BYTES_FIX
    return f"{number}{table[suffix]}" if suffix in table else None


def check_plausible(field: str, value: str | None) -> str | None:
    """Refuse a quantity of a magnitude no workload means (a unit left out or mistyped).

    Args:
        field: The field path, a key of the plausible ranges (its ``*_limit`` twin too).
        value: The quantity, already valid Kubernetes syntax.

    Returns:
        The value, unchanged.

    Raises:
        SpecError: The value is outside the field's plausible range; the message
            suggests what was probably meant ("did you mean '80Gi'?").
    """
    if value is None:
        return value
    kind, least, most, why = _PLAUSIBLE.get(field) or _PLAUSIBLE[field.removesuffix("_limit")]
    amount = ks.parse_quantity(value)
    if least <= amount <= most:
        return value
    match = ks.QUANTITY.match(value)
    number, suffix = match.groups() if match else (value, "")
    too_small = amount < least
    guess = _suggestion(kind, number, suffix, too_small)
    fix = f"did you mean {shown(guess)}?" if guess else "check the unit (Mi, Gi, Ti; m for cores)"
    unit = " (a number without a unit is bytes)" if kind == "bytes" and suffix == "" else ""
    raise _fail(field, value, f"is {_amount_text(kind, amount)}{unit}, but {why}", fix)


def _check_duration(value: Any) -> int:
    if isinstance(value, (int, str)):
        try:
            return ks.parse_duration_seconds(value)
        except ValueError as err:
            raise SpecError(f"{err}: write seconds (e.g. 600) or '10m', '1h30m'") from err
    raise SpecError(f"{shown(value)} is not a duration: write seconds (e.g. 600) or '10m', '1h30m'")


# json_schema_input_type: the schema documents what a user may write, not the stored type.
Quantity = Annotated[
    str,
    BeforeValidator(_quantity_text, json_schema_input_type=str | int | float),
    AfterValidator(_check_quantity),
]
"""A positive Kubernetes resource quantity (``500m``, ``4``, ``16Gi``)."""

Duration = Annotated[int, BeforeValidator(_check_duration, json_schema_input_type=int | str)]
"""A duration in whole seconds; accepts ``600``, ``'600'``, ``'10m'``, ``'1h30m'``."""


class Frozen(BaseModel):
    """The base of every spec model: frozen, closed, secrets hidden from error inputs."""

    # hide_input_in_errors: an error's input may be a mapping holding the HF token.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, hide_input_in_errors=True
    )
