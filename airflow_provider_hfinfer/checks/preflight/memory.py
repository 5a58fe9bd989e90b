"""Pure GPU memory arithmetic: weight bytes, KV cache bytes and whether they fit.

This module owns the sizing model of the pre-flight checks. It reads nothing
but its arguments (the Hub's safetensors counts and ``config.json``) and does
no I/O. The model, and why each constant is what it is:

- **Weights** are counted per safetensors dtype. Floating-point tensors are
  counted at the width vLLM 0.6.4 serves them with ``--dtype auto`` (BF16
  stays BF16, FP16 stays FP16, and FP32 checkpoints are served in FP16), so an
  FP32 checkpoint needs 2 bytes per parameter on the GPU, not 4. Quantized
  tensors (I32-packed 4-bit, I8/U8, F8_*) keep their stored width.
- **KV cache** per token = 2 (K and V) x layers x KV heads x head_dim x 2 bytes
  (the cache is kept in the 16-bit serving dtype by default). vLLM refuses to
  start when one sequence of ``max_model_len`` tokens does not fit in the
  cache, so that much must fit beside the weights.
- **Overhead** per GPU (:data:`OVERHEAD_PER_GPU_BYTES`): activations at vLLM's
  default batch of tokens, CUDA graphs and NCCL buffers; measured vLLM
  deployments of 7B-70B models spend 1-2 GiB per GPU on these, we take 2 GiB.
- **Budget** = GPUs x memory per GPU x ``gpu_memory_utilization``, the share
  vLLM lets itself use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GIB = 1024**3
OVERHEAD_PER_GPU_BYTES = 2 * GIB
"""Activations, CUDA graphs and NCCL buffers per GPU (see the module docstring)."""

SERVING_FLOAT_BYTES = 2
"""vLLM 0.6.4 ``--dtype auto`` serves every floating-point checkpoint in 16 bits."""

KV_CACHE_DTYPE_BYTES = 2
"""``--kv-cache-dtype auto`` keeps K and V in the 16-bit serving dtype."""

MAX_TENSOR_PARALLEL = 16
"""The largest GPU count suggested (two 8-GPU nodes)."""

STORAGE_BYTES: Mapping[str, int] = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "U32": 4,
    "I16": 2,
    "U16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}
"""Bytes per element of each safetensors dtype as stored."""

_GATED_ACTIVATIONS = frozenset({"silu", "swish", "swiglu"})
_FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})
_TORCH_DTYPE_BYTES: Mapping[str, int] = {
    "float64": 8,
    "float32": 4,
    "float": 4,
    "float16": 2,
    "half": 2,
    "bfloat16": 2,
}
# The keys vLLM 0.6.4 reads (taking the smallest present) to derive a model's
# context length when --max-model-len is not given.
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)
# Rope scalings whose factor vLLM does not apply to the derived length
# (their max_position_embeddings already is the extended length).
_ROPE_TYPES_WITHOUT_FACTOR = frozenset({"su", "longrope", "llama3", "mrope", "default"})


@dataclass(frozen=True)
class WeightEstimate:
    """How many bytes the weights take on the GPUs, and how that was worked out.

    Attributes:
        bytes: Total weight bytes across all GPUs.
        parameters: The parameter count the estimate is based on.
        source: ``safetensors`` (per-dtype counts), ``torch_dtype`` (the Hub's
            total count at the config's dtype) or ``config_shape`` (counted from
            the layer sizes in ``config.json``).
        unknown_dtypes: Safetensors dtypes not in :data:`STORAGE_BYTES`,
            counted at 2 bytes.
    """

    bytes: int
    parameters: int
    source: str
    unknown_dtypes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FitAssessment:
    """Whether a model fits the chosen GPUs, with the figures behind the answer.

    Attributes:
        available_bytes: GPUs x memory per GPU x utilization.
        weight_bytes: Bytes of weights.
        overhead_bytes: Overhead for all GPUs.
        kv_bytes_per_token: KV cache bytes per token, when known.
        context_len: The context length the KV cache must hold, when known.
        weights_fit: Weights and overhead fit the budget.
        fits: Weights, overhead and one full-context sequence of KV cache fit.
        max_fitting_len: The largest ``max_model_len`` whose KV cache fits
            beside the weights (``None`` when the weights do not fit or the KV
            size is unknown).
        gpus_needed: The smallest valid GPU count that fits the full context,
            when larger than the one chosen and not above :data:`MAX_TENSOR_PARALLEL`.
    """

    available_bytes: int
    weight_bytes: int
    overhead_bytes: int
    kv_bytes_per_token: int | None
    context_len: int | None
    weights_fit: bool
    fits: bool
    max_fitting_len: int | None
    gpus_needed: int | None

    @property
    def kv_bytes(self) -> int:
        """KV cache bytes for one sequence of ``context_len`` tokens (0 when unknown)."""
        if self.kv_bytes_per_token is None or self.context_len is None:
            return 0
        return self.kv_bytes_per_token * self.context_len

    @property
    def required_bytes(self) -> int:
        """Weights + overhead + one full-context KV cache."""
        return self.weight_bytes + self.overhead_bytes + self.kv_bytes


def gib(value: float) -> str:
    """Format a byte count in GiB with one decimal, e.g. ``"131.4 GiB"``."""
    return f"{value / GIB:.1f} GiB"


def served_bytes(dtype: str) -> int | None:
    """Bytes per element of a safetensors dtype once vLLM has loaded it.

    Args:
        dtype: A safetensors dtype name, e.g. ``BF16`` or ``F8_E4M3``.

    Returns:
        The byte width, or ``None`` for a dtype this table does not know.
    """
    name = dtype.upper()
    if name in _FLOAT_DTYPES:
        return min(STORAGE_BYTES[name], SERVING_FLOAT_BYTES)
    if name in STORAGE_BYTES:
        return STORAGE_BYTES[name]
    if name.startswith(("F8", "F6", "F4")):
        return 1
    return None


def estimate_weight_bytes(
    parameters: Mapping[str, int], total: int | None, config: Mapping[str, Any]
) -> WeightEstimate | None:
    """Estimate the GPU bytes of a model's weights.

    Args:
        parameters: Safetensors parameter counts per dtype (may be empty).
        total: The Hub's total parameter count, when known.
        config: The model's ``config.json``.

    Returns:
        The estimate, or ``None`` when neither the Hub nor the config give enough.
    """
    if parameters:
        size = 0
        unknown: list[str] = []
        for dtype, count in parameters.items():
            width = served_bytes(dtype)
            if width is None:
                unknown.append(dtype)
                width = SERVING_FLOAT_BYTES
            size += width * count
        return WeightEstimate(size, sum(parameters.values()), "safetensors", tuple(unknown))
    width = _torch_dtype_bytes(config)
    if total:
        return WeightEstimate(total * width, total, "torch_dtype")
    counted = _parameters_from_shape(text_config(config))
    if counted is None:
        return None
    return WeightEstimate(counted * width, counted, "config_shape")


def _torch_dtype_bytes(config: Mapping[str, Any]) -> int:
    raw = str(config.get("torch_dtype") or "bfloat16").removeprefix("torch.")
    return min(_TORCH_DTYPE_BYTES.get(raw, SERVING_FLOAT_BYTES), SERVING_FLOAT_BYTES)


def text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the language-model part of a config (``text_config`` of multimodal models)."""
    nested = config.get("text_config")
    if isinstance(nested, Mapping) and "num_hidden_layers" not in config:
        return {**config, **nested}
    return config


def _first_int(config: Mapping[str, Any], keys: Iterable[str]) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


@dataclass(frozen=True)
class _Shape:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int


def _shape(config: Mapping[str, Any]) -> _Shape | None:
    layers = _first_int(config, ("num_hidden_layers", "n_layer", "num_layers", "n_layers"))
    hidden = _first_int(config, ("hidden_size", "n_embd", "d_model"))
    heads = _first_int(config, ("num_attention_heads", "n_head", "num_heads", "n_heads"))
    if layers is None or hidden is None or heads is None:
        return None
    kv_heads = _first_int(config, ("num_key_value_heads", "num_kv_heads", "n_head_kv"))
    if kv_heads is None:
        kv_heads = 1 if config.get("multi_query") is True else heads
    head_dim = _first_int(config, ("head_dim",)) or hidden // heads
    return _Shape(layers, hidden, heads, kv_heads, head_dim)


def attention_heads(config: Mapping[str, Any]) -> int | None:
    """Return the number of attention heads (tensor parallelism must divide it)."""
    shape = _shape(text_config(config))
    return shape.heads if shape else None


def kv_cache_bytes_per_token(config: Mapping[str, Any]) -> int | None:
    """KV cache bytes one token takes, summed over all layers and GPUs.

    Args:
        config: The model's ``config.json``.

    Returns:
        ``2 x layers x kv_heads x head_dim x 2`` bytes, or ``None`` when the
        config does not say enough.
    """
    shape = _shape(text_config(config))
    if shape is None:
        return None
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * KV_CACHE_DTYPE_BYTES


def _parameters_from_shape(config: Mapping[str, Any]) -> int | None:
    shape = _shape(config)
    vocab = _first_int(config, ("vocab_size", "padded_vocab_size"))
    if shape is None or vocab is None:
        return None
    intermediate = _first_int(config, ("intermediate_size", "ffn_dim", "n_inner"))
    hidden = shape.hidden
    attention = hidden * shape.heads * shape.head_dim * 2  # q and o projections
    attention += hidden * shape.kv_heads * shape.head_dim * 2  # k and v projections
    # Gated MLPs (SiLU/SwiGLU: Llama, Qwen, Mistral; Gemma) have three matrices,
    # the others (GELU/ReLU: BERT, OPT, GPT) two; GPT's default width is 4x.
    gated = config.get("hidden_act") in _GATED_ACTIVATIONS or str(
        config.get("model_type", "")
    ).startswith("gemma")
    mlp = (3 if gated else 2) * hidden * (intermediate or 4 * hidden)
    # transformers ties input and output embeddings unless the config says otherwise.
    tied = config.get("tie_word_embeddings", True) is not False
    embeddings = vocab * hidden * (1 if tied else 2)
    return shape.layers * (attention + mlp) + embeddings


def derived_max_model_len(config: Mapping[str, Any]) -> int | None:
    """The context length vLLM 0.6.4 derives from a config when none is given.

    Args:
        config: The model's ``config.json``.

    Returns:
        The smallest of the known length keys, scaled by a rope-scaling factor
        where vLLM applies it; ``None`` when the config names no length.
    """
    merged = text_config(config)
    lengths = [value for key in _CONTEXT_KEYS if (value := _first_int(merged, (key,)))]
    if not lengths:
        return None
    length = min(lengths)
    scaling = merged.get("rope_scaling")
    if isinstance(scaling, Mapping):
        rope_type = str(scaling.get("rope_type") or scaling.get("type") or "default")
        factor = scaling.get("factor")
        if rope_type not in _ROPE_TYPES_WITHOUT_FACTOR and isinstance(factor, int | float):
            length = int(length * factor)
    return length


def assess_fit(
    *,
    weight_bytes: int,
    kv_bytes_per_token: int | None,
    context_len: int | None,
    gpus: int,
    gpu_memory_bytes: int,
    utilization: float,
    heads: int | None,
) -> FitAssessment:
    """Decide whether weights, overhead and a full-context KV cache fit the GPUs.

    Args:
        weight_bytes: Bytes of weights (:func:`estimate_weight_bytes`).
        kv_bytes_per_token: KV bytes per token, or ``None`` to check weights only.
        context_len: Tokens one sequence may hold (``max_model_len``).
        gpus: GPUs the model is sharded over (tensor parallel size).
        gpu_memory_bytes: Memory of one GPU.
        utilization: vLLM's ``gpu_memory_utilization``.
        heads: Attention heads, to suggest only GPU counts that divide them.

    Returns:
        The assessment with the figures for a message.
    """
    per_token = kv_bytes_per_token if context_len is not None else None
    kv_full = (per_token or 0) * (context_len or 0)
    fits_with = _Fits(weight_bytes + kv_full, gpu_memory_bytes, utilization)
    available = int(gpus * gpu_memory_bytes * utilization)
    overhead = gpus * OVERHEAD_PER_GPU_BYTES
    room = available - weight_bytes - overhead
    weights_fit = room > 0
    max_len: int | None = None
    if weights_fit and per_token:
        max_len = _round_length(room // per_token)
    needed: int | None = None
    if not fits_with(gpus):
        needed = next(
            (n for n in _tensor_parallel_sizes(heads) if n > gpus and fits_with(n)),
            None,
        )
    return FitAssessment(
        available_bytes=available,
        weight_bytes=weight_bytes,
        overhead_bytes=overhead,
        kv_bytes_per_token=per_token,
        context_len=context_len,
        weights_fit=weights_fit,
        fits=fits_with(gpus),
        max_fitting_len=max_len,
        gpus_needed=needed,
    )


@dataclass(frozen=True)
class _Fits:
    """Whether weights + one full-context KV cache + overhead fit ``gpus`` GPUs."""

    payload: int
    gpu_memory_bytes: int
    utilization: float

    def __call__(self, gpus: int) -> bool:
        budget = gpus * self.gpu_memory_bytes * self.utilization
        return self.payload + gpus * OVERHEAD_PER_GPU_BYTES <= budget


def _tensor_parallel_sizes(heads: int | None) -> list[int]:
    # vLLM shards attention heads evenly, so the GPU count must divide them.
    sizes = range(1, MAX_TENSOR_PARALLEL + 1)
    if heads is None:
        return [n for n in sizes if n & (n - 1) == 0]
    return [n for n in sizes if heads % n == 0]


def _round_length(tokens: int) -> int:
    # A round figure is easier to type into a form; 16 is vLLM's KV block size.
    step = 1024 if tokens >= 4096 else 16
    return max(0, math.floor(tokens / step) * step)
