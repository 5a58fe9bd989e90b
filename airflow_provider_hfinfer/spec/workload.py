"""The top-level workload: :class:`InferenceWorkload` and its cross-field rules.

This module owns the rules that tie fields together (replicas vs autoscaling
vs scale-to-zero, vLLM flags vs spec fields, labels and annotations) and the
loaders from dict, JSON and YAML. The nested models live in ``models``.
"""

from __future__ import annotations

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

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import kube_syntax as ks
from airflow_provider_hfinfer.spec.frozen import FrozenMap
from airflow_provider_hfinfer.spec.loader import (
    check_shape,
    load_workload_mapping,
    read_spec_file,
)
from airflow_provider_hfinfer.spec.metadata_rules import (
    SCRAPE_KEY,
    check_key,
    check_scale_to_zero,
    check_scrape_annotation,
    credential_outside_secrets,
)
from airflow_provider_hfinfer.spec.models import (
    MAX_NAME_LENGTH,
    MAX_NODE_POOLS,
    NAME_SUFFIX_ROOM,
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
    _model_shorthand,
    reserved_flags_read_as,
)
from airflow_provider_hfinfer.spec.redact import path_part, redacted
from airflow_provider_hfinfer.spec.rules import Frozen, _fail, _fail_arg
from airflow_provider_hfinfer.spec.scrub import inline_secrets, without_secrets

MAX_ANNOTATIONS_BYTES = 256 * 1024


class InferenceWorkload(Frozen):
    """A Hugging Face model served by vLLM on Kubernetes: the whole inference form.

    Build it in Python, or load it with :meth:`from_yaml` / :meth:`from_file` /
    :meth:`parse`. Every invalid value raises ``pydantic.ValidationError`` whose
    entries name the field, the rule and the fix.

    Args:
        name: Workload name, unique in the project (a DNS-1035 label, at most 46 chars).
        model: The Hugging Face model (``id``, optional ``revision``, ``served_name``);
            a plain string is taken as the id.
        hf_access: How vLLM authenticates to Hugging Face: ``none`` (public model),
            ``token`` (inline), ``existing_secret`` or ``new_secret``.
        endpoint_access: Who may call the endpoint (public by default).
        compute: GPUs, GPU memory, CPU and memory of one replica.
        replicas: Minimum and maximum replicas.
        autoscaling: Metric and threshold; required exactly when min < max.
        scale_to_zero: Idle time after which replicas drop to zero (min becomes 0).
        node_pools: Node pools in priority order, at most ``MAX_NODE_POOLS`` (16).
        node_type: Node type (affinity) the replicas must run on.
        tolerations: Taints the replicas tolerate.
        auto_delete_after: Seconds after completion or failure before deletion
            (0: at once; None: never).
        annotations: Annotations for every object and pod (read-only once validated).
            A ``prometheus.io/*`` annotation given here wins over the scrape annotations the
            renderer adds; ``prometheus.io/port`` and ``prometheus.io/path`` must then name
            vLLM's metrics (``8000``, ``/metrics``), and ``prometheus.io/scrape`` may be
            ``'false'`` only when no Prometheus-driven autoscaling reads those metrics
            (no autoscaling, or scale-to-zero).
        labels: Labels for every object and pod (read-only once validated).
        vllm: vLLM serving options.
        cache: Where model weights are cached.
        update_strategy: ``RollingUpdate`` (keeps serving, needs a spare GPU for the
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
            check_key("labels", key)
            problem = ks.label_value_error(item)
            if problem:
                raise _fail(
                    f"labels[{path_part(key)}]", item, problem, "shorten or simplify the value"
                )
        return value

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: FrozenMap) -> FrozenMap:
        total = 0
        for key, item in value.items():
            check_key("annotations", key)
            check_scrape_annotation(key, item)
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
            check_scale_to_zero(self.autoscaling)
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
    def _prewarm_pins_a_revision(self) -> InferenceWorkload:
        # Replicas start offline from what the Job downloaded: it must be one revision.
        if self.cache.prewarm and not self.model.revision:
            raise SpecError(
                "cache.prewarm needs model.revision: the cache holds one revision and the "
                "replicas start offline from it; pin the commit (or a tag), e.g. "
                "model: {id: ..., revision: 0e9e39f249a16976918f6564b8830bc894c89659}"
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
                raise _fail_arg(
                    f"vllm.extra_args[{index}]",
                    arg,
                    "can be read by vLLM as --disable-log-stats, which turns off the metrics "
                    "autoscaling reads",
                    "remove it, or remove autoscaling",
                )
        # Scale-to-zero counts requests at the KEDA HTTP interceptor, not in Prometheus.
        if self.annotations.get(SCRAPE_KEY) == "false" and self.scale_to_zero is None:
            raise SpecError(
                f"annotations[{SCRAPE_KEY}] is 'false' but autoscaling reads vLLM's metrics "
                "from Prometheus, so it would never add a replica: remove the annotation, "
                "or remove autoscaling"
            )
        return self

    @model_validator(mode="after")
    def _no_credentials_outside_secrets(self) -> InferenceWorkload:
        # A token pasted into a label, a pool or a flag would be written in plaintext into
        # every rendered object; only hf_access.token/value go to a Secret.
        where = credential_outside_secrets(self)
        if where is not None:
            path, value = where
            raise SpecError(
                f"{path} ({redacted(value)}) looks like a credential (a token or key), which "
                "would be written in plaintext into the rendered objects: remove it; a Hugging "
                "Face token belongs in hf_access (type token, new_secret or existing_secret)"
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
            # Always: besides the inline token, any credential pasted into another field
            # sits in the errors' inputs (errors(), json()), which callers may log.
            raise without_secrets(err, inline_secrets(data)) from None

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
    def from_yaml(cls, text: str, source: str | None = None) -> InferenceWorkload:
        """Load a workload from YAML (or JSON, a subset of YAML) text.

        The text goes through the safe loader (:mod:`~airflow_provider_hfinfer.spec.loader`):
        size limit, duplicate keys refused, aliases, depth and size bounded.

        Args:
            text: One YAML document describing the workload.
            source: Where the text came from (a file name), named in load errors.

        Returns:
            The validated workload.

        Raises:
            SpecError: The text is not YAML, or not a mapping of fields.
            pydantic.ValidationError: A field breaks a rule.
        """
        return cls.model_validate(load_workload_mapping(text, source or "workload"))

    @classmethod
    def from_file(cls, path: str | Path) -> InferenceWorkload:
        """Load a workload from a YAML or JSON file (UTF-8, at most 1 MiB).

        Args:
            path: Path of the file.

        Returns:
            The validated workload.

        Raises:
            SpecError: The file cannot be read, is not UTF-8 YAML/JSON, or not a mapping;
                the message names the file.
            pydantic.ValidationError: A field breaks a rule.
        """
        return cls.from_yaml(read_spec_file(path), str(path))

    @classmethod
    def parse(cls, value: InferenceWorkload | Mapping[str, Any] | str) -> InferenceWorkload:
        """Accept a workload, a mapping, or YAML/JSON text (what operators receive).

        Text goes through the safe loader; a mapping is checked for depth, size and
        cycles before any validator walks it.

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
            return cls.from_yaml(value)
        if isinstance(value, Mapping):
            check_shape(value, "workload")
            return cls.model_validate(dict(value))
        raise SpecError(
            f"a workload must be an InferenceWorkload, a mapping or YAML/JSON text, got "
            f"{type(value).__name__}: pass one of those"
        )
