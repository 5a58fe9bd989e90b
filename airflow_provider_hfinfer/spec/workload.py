"""The top-level workload: :class:`InferenceWorkload` and its cross-field rules.

This module owns the rules that tie fields together (replicas vs autoscaling
vs scale-to-zero, vLLM flags vs spec fields, labels and annotations) and the
loaders from dict, JSON and YAML. The nested models live in ``models``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import kube_syntax as ks
from airflow_provider_hfinfer.spec.frozen import FrozenMap
from airflow_provider_hfinfer.spec.models import (
    MAX_NAME_LENGTH,
    MAX_NODE_POOLS,
    NAME_SUFFIX_ROOM,
    PROVIDER_PREFIX,
    SCRAPE_ANNOTATIONS,
    Autoscaling,
    Compute,
    Duration,
    EndpointAccess,
    HFAccess,
    ModelCache,
    ModelRef,
    NoHFAccess,
    Replicas,
    ScaleToZero,
    Toleration,
    VLLMOptions,
    _fail,
    _Frozen,
    _model_shorthand,
    reserved_flags_read_as,
)

MAX_ANNOTATIONS_BYTES = 256 * 1024


class InferenceWorkload(_Frozen):
    """A Hugging Face model served by vLLM on Kubernetes: the whole inference form.

    Build it in Python, or load it with :meth:`from_yaml` / :meth:`from_file` /
    :meth:`parse`. Every invalid value raises ``pydantic.ValidationError`` whose
    entries name the field, the rule and the fix.

    :param name: Workload name, unique in the project (a DNS-1035 label, at most 46 chars).
    :param model: The Hugging Face model (``id``, optional ``revision``, ``served_name``);
        a plain string is taken as the id.
    :param hf_access: How vLLM authenticates to Hugging Face: ``none`` (public model),
        ``token`` (inline), ``existing_secret`` or ``new_secret``.
    :param endpoint_access: Who may call the endpoint (public by default).
    :param compute: GPUs, GPU memory, CPU and memory of one replica.
    :param replicas: Minimum and maximum replicas.
    :param autoscaling: Metric and threshold; required exactly when min < max.
    :param scale_to_zero: Idle time after which replicas drop to zero (min becomes 0).
    :param node_pools: Node pools in priority order, at most ``MAX_NODE_POOLS`` (16).
    :param node_type: Node type (affinity) the replicas must run on.
    :param tolerations: Taints the replicas tolerate.
    :param auto_delete_after: Seconds after completion or failure before deletion
        (0: at once; None: never).
    :param annotations: Annotations for every object and pod (read-only once validated).
        A ``prometheus.io/*`` annotation given here wins over the scrape annotations the
        renderer adds; ``prometheus.io/port`` and ``prometheus.io/path`` must then name
        vLLM's metrics (``8000``, ``/metrics``), and ``prometheus.io/scrape`` may be
        ``'false'`` only when no Prometheus-driven autoscaling reads those metrics
        (no autoscaling, or scale-to-zero).
    :param labels: Labels for every object and pod (read-only once validated).
    :param vllm: vLLM serving options.
    :param cache: Where model weights are cached.
    :param update_strategy: ``RollingUpdate`` (keeps serving, needs a spare GPU for the
        surge pod) or ``Recreate`` (stops the old replicas first).
    """

    name: str = Field(
        description=f"Workload name, unique in the project: a DNS-1035 label of at most "
        f"{MAX_NAME_LENGTH} characters."
    )
    model: Annotated[
        ModelRef, BeforeValidator(_model_shorthand, json_schema_input_type=str | ModelRef)
    ] = Field(description="The Hugging Face model: an id string, or {id, revision, served_name}.")
    hf_access: HFAccess = Field(
        default_factory=NoHFAccess,
        description="How vLLM authenticates to Hugging Face: type none, token, "
        "existing_secret or new_secret.",
    )
    endpoint_access: EndpointAccess = Field(
        default_factory=EndpointAccess,
        description="Who may call the endpoint: public, authenticated, groups or users.",
    )
    compute: Compute = Field(
        default_factory=Compute, description="GPUs, GPU memory, CPU and memory of one replica."
    )
    replicas: Replicas = Field(
        default_factory=Replicas, description="Minimum and maximum number of replicas."
    )
    autoscaling: Autoscaling | None = Field(
        default=None, description="Metric and threshold; required exactly when min < max."
    )
    scale_to_zero: ScaleToZero | None = Field(
        default=None, description="Scale to zero replicas when idle (sets replicas.min to 0)."
    )
    node_pools: tuple[str, ...] = Field(
        default=(),
        description=f"Node pools, first preferred; at most {MAX_NODE_POOLS}.",
        json_schema_extra={"maxItems": MAX_NODE_POOLS},
    )
    node_type: str | None = Field(default=None, description="Node type label value.")
    tolerations: tuple[Toleration, ...] = Field(
        default=(), description="Taints the replicas tolerate."
    )
    auto_delete_after: Duration | None = Field(
        default=None, description="Seconds after completion/failure before deletion; 0 = at once."
    )
    annotations: FrozenMap = Field(
        default_factory=FrozenMap, description="Annotations for every object and pod."
    )
    labels: FrozenMap = Field(
        default_factory=FrozenMap, description="Labels for every object and pod."
    )
    vllm: VLLMOptions = Field(default_factory=VLLMOptions, description="vLLM serving options.")
    cache: ModelCache = Field(
        default_factory=ModelCache, description="Where model weights are cached (HF_HOME)."
    )
    update_strategy: Literal["RollingUpdate", "Recreate"] = Field(
        default="RollingUpdate",
        description="RollingUpdate (needs a spare GPU for the surge pod) or Recreate.",
    )

    @model_validator(mode="before")
    @classmethod
    def _scale_to_zero_sets_min(cls, data: Any) -> Any:
        # The form sets min to 0 as soon as scale-to-zero is on; do the same here.
        if not isinstance(data, dict) or data.get("scale_to_zero") is None:
            return data
        replicas = data.get("replicas")
        if replicas is None:
            replicas = {}
        if isinstance(replicas, Replicas):
            replicas = replicas.model_dump()
        if isinstance(replicas, dict):
            return {**data, "replicas": {**replicas, "min": 0}}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = ks.dns1035_label_error(value, MAX_NAME_LENGTH)
        if problem:
            raise _fail(
                "name",
                value,
                f"{problem}; names leave {NAME_SUFFIX_ROOM} characters for the suffixes "
                "Kubernetes adds to pod names",
                "choose e.g. 'llama3-8b-chat'",
            )
        return value

    @field_validator("node_pools")
    @classmethod
    def _node_pools(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > MAX_NODE_POOLS:
            raise SpecError(
                f"node_pools lists {len(value)} pools, more than {MAX_NODE_POOLS} (each pool "
                "after the first gets a preferred-scheduling weight far below the first "
                "pool's 100; a longer list would flatten that ladder): keep at most "
                f"{MAX_NODE_POOLS} pools, most preferred first"
            )
        seen: set[str] = set()
        for pool in value:
            problem = ks.label_value_error(pool) or ("must not be empty" if not pool else None)
            if problem:
                raise _fail("node_pools[]", pool, problem, "use the node pool's label value")
            if pool in seen:
                raise _fail(
                    "node_pools", pool, "is listed twice", "list each pool once, in priority order"
                )
            seen.add(pool)
        return value

    @field_validator("node_type")
    @classmethod
    def _node_type(cls, value: str | None) -> str | None:
        if value is not None:
            problem = ks.label_value_error(value) or ("must not be empty" if not value else None)
            if problem:
                raise _fail("node_type", value, problem, "use the node type's label value")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: FrozenMap) -> FrozenMap:
        for key, item in value.items():
            _check_key("labels", key)
            problem = ks.label_value_error(item)
            if problem:
                raise _fail(f"labels[{key}]", item, problem, "shorten or simplify the value")
        return value

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: FrozenMap) -> FrozenMap:
        total = 0
        for key, item in value.items():
            _check_key("annotations", key)
            _check_scrape_annotation(key, item)
            total += len(key.encode()) + len(item.encode())
        if total > MAX_ANNOTATIONS_BYTES:
            raise SpecError(
                f"annotations total {total} bytes, over Kubernetes' limit of "
                f"{MAX_ANNOTATIONS_BYTES}: move large values to a ConfigMap"
            )
        return value

    @model_validator(mode="after")
    def _scaling_rules(self) -> InferenceWorkload:
        low, high = self.replicas.min, self.replicas.max
        if self.scale_to_zero is not None:
            _check_scale_to_zero(self.autoscaling)
        elif low == 0:
            raise SpecError(
                "replicas.min is 0 without scale_to_zero: set scale_to_zero.idle_seconds "
                "to scale to zero when idle, or set min to at least 1"
            )
        if low < high and self.autoscaling is None:
            raise SpecError(
                f"autoscaling is missing: replicas.min ({low}) < replicas.max ({high}) "
                "needs a metric and threshold; add autoscaling: {metric: concurrency, "
                "threshold: 8} or set min equal to max"
            )
        if low == high and self.autoscaling is not None:
            raise SpecError(
                f"autoscaling is set but replicas.min equals replicas.max ({low}): "
                "raise max to let it scale, or remove autoscaling"
            )
        return self

    @model_validator(mode="after")
    def _metrics_for_autoscaling(self) -> InferenceWorkload:
        # Flags set from spec fields are refused by VLLMOptions; these two rules
        # need autoscaling, so they live here.
        if self.autoscaling is None:
            return self
        for index, arg in enumerate(self.vllm.extra_args):
            if reserved_flags_read_as(arg, ("--disable-log-stats",)):
                raise _fail(
                    f"vllm.extra_args[{index}]",
                    arg,
                    "can be read by vLLM as --disable-log-stats, which turns off the metrics "
                    "autoscaling reads",
                    "remove it, or remove autoscaling",
                )
        # Scale-to-zero counts requests at the KEDA HTTP interceptor, not in Prometheus.
        if self.annotations.get(_SCRAPE_KEY) == "false" and self.scale_to_zero is None:
            raise SpecError(
                f"annotations[{_SCRAPE_KEY}] is 'false' but autoscaling reads vLLM's metrics "
                "from Prometheus, so it would never add a replica: remove the annotation, "
                "or remove autoscaling"
            )
        return self

    # Defined after the other model validators so it wraps them all, including the
    # cross-field rules above, whose errors carry the whole input.
    @model_validator(mode="wrap")
    @classmethod
    def _mask_secrets(
        cls, data: Any, handler: ModelWrapValidatorHandler[InferenceWorkload]
    ) -> InferenceWorkload:
        try:
            return handler(data)
        except ValidationError as err:
            secrets = _inline_secrets(data)
            if not secrets:
                raise
            raise _without_secrets(err, secrets) from None

    @property
    def min_replicas(self) -> int:
        """Fewest replicas (0 with scale-to-zero)."""
        return self.replicas.min

    @property
    def autoscaled(self) -> bool:
        """Whether a scaler, not the Deployment, owns the replica count."""
        return self.autoscaling is not None

    def inline_token(self) -> str | None:
        """The token written in the spec itself (``token`` or ``new_secret`` access), if any.

        The one place a secret value is read out of a workload: the Secret renderer,
        the masking of logs and messages and the pre-flight check all call this.
        """
        access = self.hf_access
        if access.type == "token":
            return access.token.get_secret_value()
        if access.type == "new_secret":
            return access.value.get_secret_value()
        return None

    def redacted(self) -> dict[str, Any]:
        """Return the spec as JSON-safe primitives with every secret masked."""
        return self.model_dump(mode="json")

    @classmethod
    def from_yaml(cls, text: str) -> InferenceWorkload:
        """Load a workload from YAML (or JSON, a subset of YAML) text.

        Args:
            text: One YAML document describing the workload.

        Returns:
            The validated workload.

        Raises:
            SpecError: The text is not YAML, or not a mapping of fields.
            pydantic.ValidationError: A field breaks a rule.
        """
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise SpecError(
                f"the workload is not valid YAML ({_yaml_problem(err)}): fix the syntax there"
            ) from err
        if not isinstance(data, dict):
            raise SpecError(
                f"a workload must be a mapping of fields, got {type(data).__name__}: "
                "start the document with 'name:'"
            )
        return cls.model_validate(data)

    @classmethod
    def from_file(cls, path: str | Path) -> InferenceWorkload:
        """Load a workload from a YAML or JSON file.

        Args:
            path: Path of the file.

        Returns:
            The validated workload.
        """
        return cls.from_yaml(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def parse(cls, value: InferenceWorkload | Mapping[str, Any] | str) -> InferenceWorkload:
        """Accept a workload, a mapping, or YAML/JSON text (what operators receive).

        Args:
            value: The workload in any of its accepted forms.

        Returns:
            The validated workload.

        Raises:
            SpecError: The value is of another type, or text that is not a mapping.
            pydantic.ValidationError: A field breaks a rule.
        """
        if isinstance(value, InferenceWorkload):
            return value
        if isinstance(value, str):
            if value.lstrip().startswith("{"):
                try:
                    data = json.loads(value)
                except json.JSONDecodeError:
                    # Not JSON: a YAML flow mapping such as '{name: x, model: y}'.
                    return cls.from_yaml(value)
                return cls.model_validate(data)
            return cls.from_yaml(value)
        if isinstance(value, Mapping):
            return cls.model_validate(dict(value))
        raise SpecError(
            f"a workload must be an InferenceWorkload, a mapping or YAML/JSON text, got "
            f"{type(value).__name__}: pass one of those"
        )


def _yaml_problem(err: Exception) -> str:
    """Say where and what the YAML problem is, on one line."""
    import yaml

    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        what = ", ".join(part for part in (err.context, err.problem) if part)
        return f"line {mark.line + 1}, column {mark.column + 1}: {what}"
    return " ".join(str(err).split())


_SECRET_FIELDS = ("token", "value")
_MASK = "**********"


def _inline_secrets(data: Any) -> tuple[str, ...]:
    if not isinstance(data, Mapping) or not isinstance(data.get("hf_access"), Mapping):
        return ()
    access = data["hf_access"]
    return tuple(
        item for key in _SECRET_FIELDS if isinstance(item := access.get(key), str) and item.strip()
    )


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return _MASK if any(secret in value for secret in secrets) else value
    if isinstance(value, Mapping):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(item, secrets) for item in value]
    return value


def _without_secrets(error: ValidationError, secrets: tuple[str, ...]) -> ValidationError:
    """Rebuild ``error`` with every copy of an inline token masked.

    pydantic keeps each error's input (``errors()``, ``json()``); a rule failing on
    the whole workload, or on ``hf_access``, would otherwise carry the plain token.
    """
    details: list[InitErrorDetails] = [
        {
            # A custom error of the same type and message keeps describe_errors' output.
            "type": PydanticCustomError(item["type"], item["msg"]),
            "loc": item["loc"],
            "input": _scrub(item["input"], secrets),
        }
        for item in error.errors(include_url=False)
    ]
    return ValidationError.from_exception_data(error.title, details, hide_input=True)


_SCRAPE_KEY = "prometheus.io/scrape"


def _check_scrape_annotation(key: str, value: str) -> None:
    # The user's prometheus.io/* annotations win over the renderer's; a port or path
    # other than vLLM's would make Prometheus scrape nothing, so refuse it here.
    if key == _SCRAPE_KEY and value not in ("true", "false"):
        raise _fail(
            f"annotations[{key}]",
            value,
            "must be 'true' or 'false' (Prometheus' scrape rule matches 'true' exactly)",
            "write 'true' or 'false', or remove it to let the provider set it",
        )
    if key != _SCRAPE_KEY and key in SCRAPE_ANNOTATIONS and value != SCRAPE_ANNOTATIONS[key]:
        raise _fail(
            f"annotations[{key}]",
            value,
            f"must be {SCRAPE_ANNOTATIONS[key]!r} (vLLM serves its metrics only there; any "
            "other value makes Prometheus scrape nothing and autoscaling see no load)",
            "remove it to let the provider set it",
        )


def _check_key(field: str, key: str) -> None:
    problem = ks.qualified_name_error(key) or ks.reserved_prefix_error(key, (PROVIDER_PREFIX,))
    if problem:
        raise _fail(
            f"{field} key",
            key,
            problem,
            "use a key like 'team' or 'example.com/team' outside reserved prefixes",
        )


def _check_scale_to_zero(autoscaling: Autoscaling | None) -> None:
    if autoscaling is None:
        raise SpecError(
            "scale_to_zero needs autoscaling: add autoscaling with metric concurrency "
            "or throughput and a threshold, which drive scaling up from zero"
        )
    if autoscaling.threshold != int(autoscaling.threshold):
        raise SpecError(
            f"autoscaling.threshold ({autoscaling.threshold}) must be a whole number with "
            "scale_to_zero (the KEDA HTTP add-on counts whole requests): round it"
        )
    if autoscaling.metric == "latency":
        raise SpecError(
            "scale_to_zero cannot use autoscaling.metric 'latency': with zero replicas "
            "there is no latency to measure, so nothing would scale it back up; use "
            "metric concurrency or throughput"
        )
