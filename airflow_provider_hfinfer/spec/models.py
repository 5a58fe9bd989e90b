"""The typed workload spec: every field of the Hugging Face inference form.

This module owns :class:`InferenceWorkload` and its nested models. They are
pydantic v2 models, frozen and closed (``extra="forbid"``); every rule the API
server or vLLM would enforce later is checked here, with a message naming the
field, the rule and the fix. Nothing here does I/O or imports a client.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import kube_syntax as ks
from airflow_provider_hfinfer.spec.access import (
    HF_ACCESS_TYPES,
    EndpointAccess,
    ExistingSecretHFAccess,
    HFAccess,
    NewSecretHFAccess,
    NoHFAccess,
    TokenHFAccess,
)
from airflow_provider_hfinfer.spec.redact import shown
from airflow_provider_hfinfer.spec.rules import (
    DEFAULT_IMAGE,
    HF_REPO_PART,
    MAX_AUTOSCALING_THRESHOLD,
    MAX_NAME_LENGTH,
    MAX_NODE_POOLS,
    NAME_SUFFIX_ROOM,
    PROVIDER_PREFIX,
    SCRAPE_ANNOTATIONS,
    VLLM_PORT,
    Duration,
    Frozen,
    Quantity,
    _fail,
    _reject_bool,
    check_plausible,
)
from airflow_provider_hfinfer.spec.vllm import (
    VLLMOptions,
    reserved_flags_read_as,
)


class ModelRef(Frozen):
    """Which Hugging Face model to serve.

    Args:
        id: The model name as Hugging Face shows it, e.g. ``meta-llama/Llama-3.1-8B-Instruct``.
        revision: A branch, tag or commit of the model repository (default: main).
        served_name: The name clients pass as ``model`` (default: ``id``).
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


class Compute(Frozen):
    """The compute resource of one replica.

    Args:
        gpus: Whole GPUs per replica; also vLLM's ``--tensor-parallel-size``.
        gpu_memory: Memory of each GPU device (e.g. ``80Gi``); selects nodes whose GPUs
            have at least this much and feeds the pre-flight fit check.
        cpu: CPU request (e.g. ``8``); ``cpu_limit`` caps it.
        cpu_limit: CPU limit; at least ``cpu`` when both are set.
        memory: Memory request (e.g. ``64Gi``); ``memory_limit`` caps it.
        memory_limit: Memory limit; at least ``memory`` when both are set.
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


class Replicas(Frozen):
    """How many replicas serve; autoscaling applies when ``min < max``.

    Args:
        min: Fewest replicas (0 only with scale-to-zero, which sets it).
        max: Most replicas.
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


class Autoscaling(Frozen):
    """The condition that adds a replica when ``replicas.min < replicas.max``.

    Args:
        metric: ``latency`` (milliseconds, mean end-to-end request latency),
            ``throughput`` (completed requests per second per replica) or ``concurrency``
            (running plus waiting requests per replica).
        threshold: The value at which a replica is added: greater than 0 and at
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


class ScaleToZero(Frozen):
    """Scale to zero replicas after the endpoint was idle for a while.

    Args:
        idle_seconds: Idle time before the last replica is removed (``'10m'`` works).
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


class Toleration(Frozen):
    """Lets replicas run on nodes with a matching taint.

    Args:
        key: The taint key.
        operator: ``Exists`` (key present) or ``Equals`` (key and value match).
        value: The taint value (``Equals`` only).
        effect: ``NoExecute``, ``NoSchedule``, ``PreferNoSchedule`` or ``Any``.
        toleration_seconds: With ``NoExecute``: how long to stay after the taint appears.
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


class ModelCache(Frozen):
    """Where model weights are downloaded (``HF_HOME``).

    Args:
        type: ``emptyDir`` (per pod, default) or ``pvc`` (an existing claim, shared).
        claim_name: The PersistentVolumeClaim (type ``pvc``).
        size_limit: Size limit of the emptyDir (e.g. ``200Gi``).
        prewarm: Type ``pvc`` only: before the Deployment scales up, a Job with the
            same image downloads the model at ``model.revision`` into the claim,
            once; replicas then mount it read-only with ``HF_HUB_OFFLINE=1`` and
            never download from the Hub (scale-up and scale-from-zero included).
    """

    type: Literal["emptyDir", "pvc"] = "emptyDir"
    claim_name: str | None = None
    size_limit: Quantity | None = None
    prewarm: bool = False

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
        elif self.prewarm:
            raise SpecError(
                "cache.prewarm needs cache.type 'pvc': a per-pod emptyDir cannot be filled "
                "before the pod exists; set type: pvc and claim_name (a claim every replica "
                "mounts), or remove prewarm"
            )
        return self


__all__ = [
    "Autoscaling",
    "Compute",
    "DEFAULT_IMAGE",
    "Duration",
    "EndpointAccess",
    "ExistingSecretHFAccess",
    "HFAccess",
    "HF_ACCESS_TYPES",
    "MAX_AUTOSCALING_THRESHOLD",
    "MAX_NAME_LENGTH",
    "MAX_NODE_POOLS",
    "ModelCache",
    "ModelRef",
    "NAME_SUFFIX_ROOM",
    "NewSecretHFAccess",
    "NoHFAccess",
    "PROVIDER_PREFIX",
    "Quantity",
    "Replicas",
    "SCRAPE_ANNOTATIONS",
    "ScaleToZero",
    "TokenHFAccess",
    "Toleration",
    "VLLMOptions",
    "VLLM_PORT",
    "_model_shorthand",
    "reserved_flags_read_as",
]
