"""The typed workload spec: every field of the Hugging Face inference form.

This module owns :class:`InferenceWorkload` and its nested models. They are
pydantic v2 models, frozen and closed (``extra="forbid"``); every rule the API
server or vLLM would enforce later is checked here, with a message naming the
field, the rule and the fix. Nothing here does I/O or imports a client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import kube_syntax as ks
from airflow_provider_hfinfer.spec.redact import secret_format, shown, shown_arg

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


class _Frozen(BaseModel):
    # hide_input_in_errors: an error's input may be a mapping holding the HF token.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, hide_input_in_errors=True
    )


class ModelRef(_Frozen):
    """Which Hugging Face model to serve.

    :param id: The model name as Hugging Face shows it, e.g. ``meta-llama/Llama-3.1-8B-Instruct``.
    :param revision: A branch, tag or commit of the model repository (default: main).
    :param served_name: The name clients pass as ``model`` (default: ``id``).
    """

    id: str = Field(description="Hugging Face repository id, e.g. 'Qwen/Qwen2.5-7B-Instruct'.")
    revision: str | None = Field(
        default=None, description="Branch, tag or commit SHA of the model repository."
    )
    served_name: str | None = Field(
        default=None, description="Model name clients send in requests; defaults to the id."
    )

    @field_validator("id")
    @classmethod
    def _repo_id(cls, value: str) -> str:
        parts = value.split("/")
        bad = (
            len(parts) > 2
            or len(value) > 96
            or not all(HF_REPO_PART.match(part) for part in parts)
            or "--" in value
            or ".." in value
        )
        if bad:
            raise _fail(
                "model.id",
                value,
                "is not a Hugging Face repository id (at most 96 characters, "
                "'namespace/name' of letters, digits, '-', '_', '.')",
                "copy the id from the model page, e.g. 'meta-llama/Llama-3.1-8B-Instruct'",
            )
        return value

    @field_validator("revision", "served_name")
    @classmethod
    def _no_blank(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (not value.strip() or any(ch.isspace() for ch in value)):
            raise SpecError(
                f"model.{info.field_name} ({shown(value)}) must be a non-empty string without "
                "spaces: remove the field to use the default"
            )
        return value

    @property
    def served_model_name(self) -> str:
        """The model name clients use in requests."""
        return self.served_name or self.id


def _model_shorthand(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


class NoHFAccess(_Frozen):
    """A public model: no Hugging Face token is mounted.

    :param type: Always ``none``; selects this kind of access.
    """

    type: Literal["none"] = Field(default="none", description="Always 'none'.")


class TokenHFAccess(_Frozen):
    """An access token given inline; it becomes a new Secret ``<name>-hf-token``.

    :param type: Always ``token``; selects this kind of access.
    :param token: The Hugging Face access token; never logged or rendered outside the Secret.
    """

    type: Literal["token"] = Field(default="token", description="Always 'token'.")
    token: SecretStr = Field(description="Hugging Face access token (stored in a new Secret).")

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw or any(ch.isspace() for ch in raw):
            raise SpecError(
                "hf_access.token is empty or contains whitespace: paste the token exactly "
                "as Hugging Face shows it (Settings > Access Tokens)"
            )
        return value


def _check_secret_name(value: str) -> str:
    problem = ks.dns1123_subdomain_error(value)
    if problem:
        raise _fail("hf_access.secret_name", value, problem, "use the Secret's exact name")
    return value


def _check_secret_key(value: str) -> str:
    problem = ks.secret_key_error(value)
    if problem:
        raise _fail("hf_access.key", value, problem, "use a key such as 'HF_TOKEN'")
    return value


SecretName = Annotated[str, AfterValidator(_check_secret_name)]
SecretKey = Annotated[str, AfterValidator(_check_secret_key)]


class ExistingSecretHFAccess(_Frozen):
    """Existing credentials: a Secret already in the namespace holding the token.

    :param type: Always ``existing_secret``; selects this kind of access.
    :param secret_name: The Secret's name.
    :param key: The key inside the Secret that holds the token (default ``HF_TOKEN``).
    """

    type: Literal["existing_secret"] = Field(
        default="existing_secret", description="Always 'existing_secret'."
    )
    secret_name: SecretName = Field(description="Name of an existing Secret in the project.")
    key: SecretKey = Field(default="HF_TOKEN", description="Key of the token in the Secret.")


class NewSecretHFAccess(_Frozen):
    """New credentials: a new Secret with the given name, key and token value.

    :param type: Always ``new_secret``; selects this kind of access.
    :param secret_name: The name of the Secret to create.
    :param key: The key to store the token under (default ``HF_TOKEN``).
    :param value: The token itself.
    """

    type: Literal["new_secret"] = Field(default="new_secret", description="Always 'new_secret'.")
    secret_name: SecretName = Field(description="Name of the Secret to create.")
    key: SecretKey = Field(default="HF_TOKEN", description="Key to store the token under.")
    value: SecretStr = Field(description="The Hugging Face token to store.")

    @field_validator("value")
    @classmethod
    def _value(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw or any(ch.isspace() for ch in raw):
            raise SpecError(
                "hf_access.value is empty or contains whitespace: paste the token exactly "
                "as Hugging Face shows it"
            )
        return value


HF_ACCESS_TYPES = ("none", "token", "existing_secret", "new_secret")


def _hf_access_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) else None


HFAccess = Annotated[
    Annotated[NoHFAccess, Tag("none")]
    | Annotated[TokenHFAccess, Tag("token")]
    | Annotated[ExistingSecretHFAccess, Tag("existing_secret")]
    | Annotated[NewSecretHFAccess, Tag("new_secret")],
    Discriminator(
        _hf_access_type,
        custom_error_type="hf_access_type",
        custom_error_message=(
            "hf_access.type is missing or unknown: set type to 'none' (public model), "
            "'token', 'existing_secret' or 'new_secret'"
        ),
    ),
]


class EndpointAccess(_Frozen):
    """Who may call the serving endpoint.

    :param mode: ``public`` (default, no authentication), ``authenticated`` (any user
        with a valid token from the cluster's identity provider), ``groups`` or ``users``.
    :param groups: Group names as the identity provider writes them (mode ``groups``).
    :param users: E-mail addresses or user names (mode ``users``).
    """

    mode: Literal["public", "authenticated", "groups", "users"] = "public"
    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _lists_match_mode(self) -> EndpointAccess:
        for field, values in (("groups", self.groups), ("users", self.users)):
            wanted = self.mode == field
            if wanted and not values:
                raise SpecError(
                    f"endpoint_access.{field} is empty but mode is '{field}': list at least "
                    f"one entry, or choose mode 'authenticated' or 'public'"
                )
            if values and not wanted:
                raise SpecError(
                    f"endpoint_access.{field} is set but mode is '{self.mode}': set "
                    f"mode: {field}, or remove endpoint_access.{field}"
                )
            _check_principals(field, values)
        return self


# RFC 5322 dot-atom local part (without '*', Istio's wildcard) @ a DNS name with a TLD.
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$"
)
# A user name or subject as identity providers issue them: ana, ana.lee, 1234, auth0|5f7c,
# system:serviceaccount:ns:sa.
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:|+~-]*$")
MAX_PRINCIPAL_LENGTH = 256


def _principal_error(field: str, entry: str) -> str | None:
    """The rule an ``endpoint_access`` entry breaks, or None."""
    if not entry.strip():
        return "is blank"
    if entry != entry.strip():
        return "has surrounding spaces"
    if len(entry) > MAX_PRINCIPAL_LENGTH:
        return f"is longer than {MAX_PRINCIPAL_LENGTH} characters"
    if "*" in entry:
        return "contains '*', which Istio reads as a wildcard (it would let others in)"
    if '"' in entry or not entry.isprintable():
        return "contains a double quote or a control character"
    if field == "groups":
        return None
    if "@" in entry:
        if _EMAIL.match(entry) and len(entry) <= 254 and ".." not in entry:
            return None
        return (
            "is not an e-mail address (one '@', a name before it, a domain such as "
            "example.com after it, no '..')"
        )
    if not _USER_NAME.match(entry):
        return (
            "is not a user name (letters, digits and . _ - : | + ~, no spaces) nor an "
            "e-mail address"
        )
    return None


def _check_principals(field: str, values: tuple[str, ...]) -> None:
    seen: set[str] = set()
    fix = {
        "users": "write the e-mail address or user name exactly as the identity provider "
        "issues it, e.g. ana@example.com",
        "groups": "write the group exactly as the identity provider names it",
    }[field]
    for entry in values:
        problem = _principal_error(field, entry)
        if problem:
            raise _fail(f"endpoint_access.{field}", entry, problem, fix)
        if entry in seen:
            raise _fail(f"endpoint_access.{field}", entry, "is listed twice", "list it once")
        seen.add(entry)


class Compute(_Frozen):
    """The compute resource of one replica.

    :param gpus: Whole GPUs per replica; also vLLM's ``--tensor-parallel-size``.
    :param gpu_memory: Memory of each GPU device (e.g. ``80Gi``); selects nodes whose GPUs
        have at least this much and feeds the pre-flight fit check.
    :param cpu: CPU request (e.g. ``8``); ``cpu_limit`` caps it.
    :param cpu_limit: CPU limit; at least ``cpu`` when both are set.
    :param memory: Memory request (e.g. ``64Gi``); ``memory_limit`` caps it.
    :param memory_limit: Memory limit; at least ``memory`` when both are set.
    """

    gpus: int = Field(default=1, description="Whole GPUs per replica (tensor parallel size).")
    gpu_memory: Quantity | None = Field(default=None, description="Memory per GPU, e.g. '80Gi'.")
    cpu: Quantity | None = Field(default=None, description="CPU request, e.g. '8'.")
    cpu_limit: Quantity | None = Field(default=None, description="CPU limit.")
    memory: Quantity | None = Field(default=None, description="Memory request, e.g. '64Gi'.")
    memory_limit: Quantity | None = Field(default=None, description="Memory limit.")

    @field_validator("gpus", mode="before", json_schema_input_type=int | str)
    @classmethod
    def _gpus(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)  # templated fields arrive as strings
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
            raise _fail(
                "compute.gpus",
                value,
                "must be a whole number from 1 to 16 (vLLM serves on GPUs of one node)",
                "request 1, 2, 4 or 8 GPUs",
            )
        return value

    @field_validator("gpu_memory", "cpu", "cpu_limit", "memory", "memory_limit")
    @classmethod
    def _plausible(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check_plausible(f"compute.{info.field_name}", value)

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Compute:
        for request_field, limit_field in (("cpu", "cpu_limit"), ("memory", "memory_limit")):
            request, limit = getattr(self, request_field), getattr(self, limit_field)
            if request and limit and ks.parse_quantity(limit) < ks.parse_quantity(request):
                raise SpecError(
                    f"compute.{limit_field} ({limit}) is below compute.{request_field} "
                    f"({request}): raise the limit or lower the request"
                )  # both passed the quantity syntax, so they are short and printable
        return self

    @property
    def gpu_memory_bytes(self) -> int | None:
        """Memory of one GPU device in bytes, when given."""
        return int(ks.parse_quantity(self.gpu_memory)) if self.gpu_memory else None


class Replicas(_Frozen):
    """How many replicas serve; autoscaling applies when ``min < max``.

    :param min: Fewest replicas (0 only with scale-to-zero, which sets it).
    :param max: Most replicas.
    """

    min: int = Field(default=1, ge=0, description="Minimum replicas.")
    max: int = Field(default=1, ge=1, le=1000, description="Maximum replicas.")

    _no_bool = field_validator("min", "max", mode="before")(_reject_bool)

    @model_validator(mode="after")
    def _order(self) -> Replicas:
        if self.min > self.max:
            raise SpecError(
                f"replicas.min ({self.min}) exceeds replicas.max ({self.max}): "
                "raise max or lower min"
            )
        return self


_THRESHOLD_SENSE = {
    "latency": ("ms", "10 minutes of mean request latency"),
    "throughput": ("requests/s", "far more than one vLLM server completes"),
    "concurrency": ("requests", "vLLM runs 256 at once by default, the rest queue"),
}


class Autoscaling(_Frozen):
    """The condition that adds a replica when ``replicas.min < replicas.max``.

    :param metric: ``latency`` (milliseconds, mean end-to-end request latency),
        ``throughput`` (completed requests per second per replica) or ``concurrency``
        (running plus waiting requests per replica).
    :param threshold: The value at which a replica is added: greater than 0 and at
        most the metric's cap in ``MAX_AUTOSCALING_THRESHOLD`` (latency 600000 ms,
        throughput 10000 requests/s, concurrency 10000 requests), beyond which it
        would never be reached.
    """

    metric: Literal["latency", "throughput", "concurrency"] = Field(
        description="latency (ms), throughput (requests/s) or concurrency (requests)."
    )
    threshold: float = Field(
        description="Value that triggers a new replica (> 0); at most 600000 for latency, "
        "10000 for throughput and concurrency."
    )

    _no_bool = field_validator("threshold", mode="before")(_reject_bool)

    @field_validator("threshold")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0 or value != value or value == float("inf"):
            raise _fail(
                "autoscaling.threshold",
                value,
                "must be a finite number greater than 0",
                "e.g. 2000 (ms) for latency, 5 (req/s) for throughput, 8 for concurrency",
            )
        return value

    @model_validator(mode="after")
    def _below_cap(self) -> Autoscaling:
        cap = MAX_AUTOSCALING_THRESHOLD[self.metric]
        if self.threshold > cap:
            unit, why = _THRESHOLD_SENSE[self.metric]
            raise _fail(
                "autoscaling.threshold",
                self.threshold,
                f"is above {cap} {unit}, the cap for metric '{self.metric}' ({why}), "
                "so no replica would ever be added",
                f"check the unit and give at most {cap}",
            )
        return self


class ScaleToZero(_Frozen):
    """Scale to zero replicas after the endpoint was idle for a while.

    :param idle_seconds: Idle time before the last replica is removed (``'10m'`` works).
    """

    idle_seconds: Duration = Field(description="Idle time before scaling to zero.")

    @field_validator("idle_seconds")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise _fail(
                "scale_to_zero.idle_seconds", value, "must be at least 1 second", "e.g. '10m'"
            )
        return value


class Toleration(_Frozen):
    """Lets replicas run on nodes with a matching taint.

    :param key: The taint key.
    :param operator: ``Exists`` (key present) or ``Equals`` (key and value match).
    :param value: The taint value (``Equals`` only).
    :param effect: ``NoExecute``, ``NoSchedule``, ``PreferNoSchedule`` or ``Any``.
    :param toleration_seconds: With ``NoExecute``: how long to stay after the taint appears.
    """

    key: str
    operator: Literal["Exists", "Equals"] = "Equals"
    value: str | None = None
    effect: Literal["NoExecute", "NoSchedule", "PreferNoSchedule", "Any"] = "Any"
    toleration_seconds: int | None = Field(default=None, ge=0)

    _no_bool = field_validator("toleration_seconds", mode="before")(_reject_bool)

    @field_validator(
        "operator", mode="before", json_schema_input_type=Literal["Exists", "Equals", "Equal"]
    )
    @classmethod
    def _equal_alias(cls, value: Any) -> Any:
        # Kubernetes spells it 'Equal', the form 'Equals': accept both.
        return "Equals" if value == "Equal" else value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        problem = ks.qualified_name_error(value)
        if problem:
            raise _fail("tolerations[].key", value, problem, "use the taint key of the node")
        return value

    @model_validator(mode="after")
    def _operator(self) -> Toleration:
        if self.operator == "Exists" and self.value is not None:
            raise SpecError(
                f"tolerations[{self.key}]: operator Exists takes no value (got "
                f"{shown(self.value)}): remove value, or use operator Equals"
            )
        if self.operator == "Equals":
            if self.value is None:
                raise SpecError(
                    f"tolerations[{self.key}]: operator Equals needs a value: set value to "
                    "the taint's value, or use operator Exists"
                )
            problem = ks.label_value_error(self.value)
            if problem:
                raise _fail(
                    f"tolerations[{self.key}].value",
                    self.value,
                    problem,
                    "write the taint's value exactly as it is on the node",
                )
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise SpecError(
                f"tolerations[{self.key}]: toleration_seconds applies only to effect "
                f"NoExecute (effect is {self.effect}): remove it or use NoExecute"
            )
        return self


class VLLMOptions(_Frozen):
    """vLLM serving options.

    :param image: Container image (default: the cluster's default, ``vllm/vllm-openai:v0.6.4``).
    :param max_model_len: Context length; set it for long-context models, which may
        otherwise fail to start.
    :param dtype: Weights and activations dtype.
    :param gpu_memory_utilization: Share of each GPU's memory vLLM may use (0-1].
    :param task: ``auto``, ``generate`` or ``embedding``.
    :param extra_args: Further ``vllm serve`` flags, e.g. ``["--enable-prefix-caching"]``;
        none may be read by vLLM as a flag in ``RESERVED_VLLM_FLAGS`` (see
        :func:`reserved_flags_read_as`).
    """

    image: str | None = Field(default=None, description="vLLM image; None: cluster default.")
    max_model_len: int | None = Field(default=None, ge=16, description="--max-model-len.")
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = "auto"
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    task: Literal["auto", "generate", "embedding"] = "auto"
    extra_args: tuple[str, ...] = ()

    _no_bool = field_validator("max_model_len", "gpu_memory_utilization", mode="before")(
        _reject_bool
    )

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(ch.isspace() for ch in value)):
            raise _fail("vllm.image", value, "is not an image reference", "e.g. 'repo/image:tag'")
        return value

    @field_validator("extra_args")
    @classmethod
    def _no_reserved_flags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _check_extra_args(value)
        return value


RESERVED_VLLM_FLAGS: Mapping[str, str | None] = MappingProxyType(
    {
        "--model": "model.id",
        "--served-model-name": "model.served_name",
        "--revision": "model.revision",
        "--host": None,
        "--port": None,
        "--api-key": None,
        "--hf-token": None,
        "--ssl-keyfile": None,
        "--ssl-certfile": None,
        "--ssl-ca-certs": None,
        "--ssl-cert-reqs": None,
        "--tensor-parallel-size": "compute.gpus",
        "-tp": "compute.gpus",
        "--max-model-len": "vllm.max_model_len",
        "--dtype": "vllm.dtype",
        "--gpu-memory-utilization": "vllm.gpu_memory_utilization",
        "--task": "vllm.task",
        "--download-dir": "cache",
    }
)
"""Flags the renderer sets, each with the spec field it comes from (None: refused outright).

Giving one again in ``vllm.extra_args`` is an error, in any spelling vLLM's
parser reads as the flag (see :func:`reserved_flags_read_as`). The ones with
no field are those ``vllm serve`` (0.6.4) would use to carry a secret or to
move the endpoint the provider renders for (see ``_REFUSED_BECAUSE``); other
server flags (``--root-path``, CORS, ``--middleware``, tool parsers) leave host,
port and protocol as they are and stay allowed.
"""

_SECRET_REASON = (
    "carries a secret, which would be stored in plaintext in the Deployment's arguments "
    "and shown by 'hfinfer render' and the API server"
)
_REFUSED_BECAUSE: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "--host": (
            f"the provider fixes (vLLM listens on 0.0.0.0:{VLLM_PORT}, where the Service, "
            "probes and metrics scraping reach it)",
            "remove this argument",
        ),
        "--api-key": (
            _SECRET_REASON,
            "remove it and restrict callers with endpoint_access (mode authenticated, "
            "groups or users), which checks each caller's token at the mesh",
        ),
        "--hf-token": (_SECRET_REASON, "remove it and set hf_access instead"),
        "--ssl": (
            "switches vLLM to HTTPS, but the Service, probes and metrics scraping the "
            "provider renders speak plain HTTP",
            "remove it and terminate TLS at the mesh or ingress (Istio mTLS encrypts "
            "traffic between pods)",
        ),
    }
)
_REFUSED_BECAUSE_ALIASES = {
    "--port": "--host",
    "--ssl-keyfile": "--ssl",
    "--ssl-certfile": "--ssl",
    "--ssl-ca-certs": "--ssl",
    "--ssl-cert-reqs": "--ssl",
}


def vllm_option_name(arg: str) -> str | None:
    """Return the option name vLLM 0.6.4's parser reads in one ``extra_args`` item.

    The name is the text before ``=`` (``--port=9000``) or a space (``--port 9000``
    given as one item). vLLM's ``FlexibleArgumentParser`` turns underscores into
    dashes in ``--`` names before parsing, so ``--max_model_len`` reads as
    ``--max-model-len``; single-dash names are left as they are.

    Args:
        arg: One item of ``vllm.extra_args``.

    Returns:
        The normalized option name, or None when the item is a value (no leading
        ``-``, a negative number, ``-`` or the ``--`` end-of-options marker).
    """
    name = re.split(r"[=\s]", arg.strip(), maxsplit=1)[0]
    if not name.startswith("-") or name in ("-", "--") or name[1:2].isdigit():
        return None
    if name.startswith("--"):
        name = "--" + name[2:].replace("_", "-")
    return name


def reserved_flags_read_as(arg: str, reserved: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Return the reserved flags vLLM's parser could read ``arg`` as.

    argparse (``allow_abbrev``, on in vLLM) accepts any prefix of a long option
    that no other option shares, and a prefix shared by several is an error at
    start-up. So ``arg`` is refused when its name (:func:`vllm_option_name`) equals
    a reserved flag or is a prefix of one: ``--mod``, ``--served-model``,
    ``--port=9000``, ``--max_model_len``, ``-t`` (for ``-tp``). A real flag that
    merely starts with a reserved one, such as ``--model-loader-extra-config``,
    is longer than it and passes; no vLLM 0.6.4 flag is a prefix of a reserved one.

    Args:
        arg: One item of ``vllm.extra_args``.
        reserved: The flags to check against (default: ``RESERVED_VLLM_FLAGS``).

    Returns:
        The matching reserved flags, empty when ``arg`` sets none of them.
    """
    name = vllm_option_name(arg)
    if name is None:
        return ()
    flags = tuple(RESERVED_VLLM_FLAGS) if reserved is None else reserved
    return tuple(flag for flag in flags if flag.startswith(name))


def _reserved_flag_error(where: str, arg: str, flags: tuple[str, ...]) -> SpecError:
    read_as = " or ".join(flags)
    sources = [RESERVED_VLLM_FLAGS[flag] for flag in flags]
    fields = ", ".join(dict.fromkeys(source for source in sources if source))
    if not fields:
        reason, fix = _REFUSED_BECAUSE[_REFUSED_BECAUSE_ALIASES.get(flags[0], flags[0])]
        return _fail_arg(where, arg, f"can be read by vLLM as {read_as}, which {reason}", fix)
    return _fail_arg(
        where,
        arg,
        f"can be read by vLLM as {read_as}, which the provider sets from {fields}",
        f"set {fields} instead and remove this argument",
    )


def _extra_arg_value(args: tuple[str, ...], index: int) -> str:
    """The value of the option at ``args[index]``: after ``=`` or a space, or the next item."""
    arg = args[index].strip()
    parts = re.split(r"[=\s]", arg, maxsplit=1)
    if len(parts) == 2:
        return parts[1].strip()
    following = args[index + 1] if index + 1 < len(args) else ""
    return following.strip() if vllm_option_name(following) is None else ""


def _check_extra_args(value: tuple[str, ...]) -> None:
    for index, arg in enumerate(value):
        where = f"vllm.extra_args[{index}]"
        flags = reserved_flags_read_as(arg)
        if flags:
            raise _reserved_flag_error(where, arg, flags)
        if secret_format(arg):
            raise _fail_arg(
                where,
                arg,
                "holds what looks like a credential (a token or key), which would be stored "
                "in plaintext in the Deployment's arguments",
                "keep credentials in a Secret; the Hugging Face token goes in hf_access",
            )
        if reserved_flags_read_as(arg, ("--uvicorn-log-level",)) and (
            _extra_arg_value(value, index).lower() == "trace"
        ):
            raise _fail_arg(
                where,
                arg,
                "sets uvicorn's 'trace' log level, which writes every request's headers and "
                "body into the pod log, including callers' tokens",
                "use 'debug' or 'info'",
            )


class ModelCache(_Frozen):
    """Where model weights are downloaded (``HF_HOME``).

    :param type: ``emptyDir`` (per pod, default) or ``pvc`` (an existing claim, shared).
    :param claim_name: The PersistentVolumeClaim (type ``pvc``).
    :param size_limit: Size limit of the emptyDir (e.g. ``200Gi``).
    """

    type: Literal["emptyDir", "pvc"] = "emptyDir"
    claim_name: str | None = None
    size_limit: Quantity | None = None

    @field_validator("size_limit")
    @classmethod
    def _plausible(cls, value: str | None) -> str | None:
        return check_plausible("cache.size_limit", value)

    @model_validator(mode="after")
    def _claim(self) -> ModelCache:
        if self.type == "pvc":
            if not self.claim_name:
                raise SpecError(
                    "cache.claim_name is missing for cache type 'pvc': name an existing "
                    "PersistentVolumeClaim, or use type 'emptyDir'"
                )
            problem = ks.dns1123_subdomain_error(self.claim_name)
            if problem:
                raise _fail("cache.claim_name", self.claim_name, problem, "use the PVC's name")
            if self.size_limit:
                raise SpecError(
                    "cache.size_limit applies to emptyDir only: remove it for type 'pvc'"
                )
        elif self.claim_name:
            raise SpecError(
                "cache.claim_name is set but cache.type is 'emptyDir': set type: pvc "
                "or remove claim_name"
            )
        return self
