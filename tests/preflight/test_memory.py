"""The pure sizing model: weight bytes, KV cache bytes, context length, fit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_hfinfer.checks.preflight import memory
from airflow_provider_hfinfer.checks.preflight.memory import GIB

from .fake_hub import (
    BGE_CONFIG,
    GEMMA3_CONFIG,
    LLAMA_8B_CONFIG,
    LLAMA_8B_PARAMS,
    LLAMA_70B_CONFIG,
    LLAMA_70B_PARAMS,
    OPT_CONFIG,
)


@pytest.mark.parametrize(
    ("dtype", "width"),
    [
        ("BF16", 2),
        ("F16", 2),
        ("F32", 2),  # vLLM --dtype auto serves FP32 checkpoints in FP16
        ("I32", 4),  # GPTQ/AWQ pack eight 4-bit weights per I32
        ("I8", 1),
        ("U8", 1),
        ("F8_E4M3", 1),
        ("F8_E5M2", 1),
        ("I64", 8),
        ("Q42", None),
    ],
)
def test_served_bytes_per_dtype(dtype: str, width: int | None) -> None:
    assert memory.served_bytes(dtype) == width


def test_weights_from_safetensors_counts() -> None:
    estimate = memory.estimate_weight_bytes({"BF16": LLAMA_8B_PARAMS}, LLAMA_8B_PARAMS, {})

    assert estimate is not None
    assert (estimate.bytes, estimate.source) == (2 * LLAMA_8B_PARAMS, "safetensors")


def test_weights_of_a_quantized_checkpoint_keep_their_stored_width() -> None:
    # A GPTQ 4-bit 8B: packed I32 weights, F16 scales and embeddings.
    counts = {"I32": 872_415_232, "F16": 1_052_315_648}
    estimate = memory.estimate_weight_bytes(counts, None, {})

    assert estimate is not None
    assert estimate.bytes == 4 * 872_415_232 + 2 * 1_052_315_648


def test_unknown_dtype_is_counted_at_two_bytes_and_reported() -> None:
    estimate = memory.estimate_weight_bytes({"Q42": 10}, None, {})

    assert estimate is not None
    assert (estimate.bytes, estimate.unknown_dtypes) == (20, ("Q42",))


def test_weights_fall_back_to_total_and_torch_dtype() -> None:
    estimate = memory.estimate_weight_bytes({}, 1000, {"torch_dtype": "bfloat16"})

    assert estimate is not None
    assert (estimate.bytes, estimate.source) == (2000, "torch_dtype")


@pytest.mark.parametrize(
    ("config", "parameters"),
    [
        (LLAMA_8B_CONFIG, LLAMA_8B_PARAMS),
        (LLAMA_70B_CONFIG, LLAMA_70B_PARAMS),
        (BGE_CONFIG, 109_482_240),
        (OPT_CONFIG, 125_239_296),
    ],
)
def test_weights_fall_back_to_the_config_shape(config: dict[str, object], parameters: int) -> None:
    estimate = memory.estimate_weight_bytes({}, None, config)

    assert estimate is not None
    assert estimate.source == "config_shape"
    assert estimate.parameters == pytest.approx(parameters, rel=0.03)


def test_weights_unknown_without_counts_or_shape() -> None:
    assert memory.estimate_weight_bytes({}, None, {"model_type": "mystery"}) is None


@pytest.mark.parametrize(
    ("config", "per_token"),
    [
        (LLAMA_8B_CONFIG, 2 * 32 * 8 * 128 * 2),  # 128 KiB
        (LLAMA_70B_CONFIG, 2 * 80 * 8 * 128 * 2),  # 320 KiB
        (GEMMA3_CONFIG, 2 * 26 * 1 * 256 * 2),  # explicit head_dim
        (BGE_CONFIG, 2 * 12 * 12 * 64 * 2),  # no GQA: KV heads = attention heads
        (OPT_CONFIG, 2 * 12 * 12 * 64 * 2),
        ({"text_config": LLAMA_8B_CONFIG, "architectures": ["X"]}, 2 * 32 * 8 * 128 * 2),
        ({"model_type": "mystery"}, None),
    ],
)
def test_kv_cache_bytes_per_token(config: dict[str, object], per_token: int | None) -> None:
    assert memory.kv_cache_bytes_per_token(config) == per_token


@pytest.mark.parametrize(
    ("config", "length"),
    [
        (LLAMA_8B_CONFIG, 131072),  # llama3 rope: the factor is already applied
        (BGE_CONFIG, 512),
        ({"max_position_embeddings": 4096, "seq_length": 2048}, 2048),
        (
            {"max_position_embeddings": 32768, "rope_scaling": {"type": "yarn", "factor": 4.0}},
            131072,
        ),
        ({"hidden_size": 8}, None),
    ],
)
def test_derived_max_model_len(config: dict[str, object], length: int | None) -> None:
    assert memory.derived_max_model_len(config) == length


def _fit(gpus: int, memory_gib: int, context: int) -> memory.FitAssessment:
    return memory.assess_fit(
        weight_bytes=2 * LLAMA_70B_PARAMS,
        kv_bytes_per_token=2 * 80 * 8 * 128 * 2,
        context_len=context,
        gpus=gpus,
        gpu_memory_bytes=memory_gib * GIB,
        utilization=0.9,
        heads=64,
    )


def test_70b_on_one_80gib_gpu_needs_four() -> None:
    fit = _fit(1, 80, 131072)

    assert (fit.weights_fit, fit.fits, fit.gpus_needed) == (False, False, 4)
    assert fit.max_fitting_len is None


def test_70b_on_two_gpus_fits_weights_but_not_the_full_context() -> None:
    fit = _fit(2, 80, 131072)

    assert (fit.weights_fit, fit.fits, fit.gpus_needed) == (True, False, 4)
    assert fit.max_fitting_len == 27648
    assert _fit(2, 80, 27648).fits


def test_70b_on_four_gpus_fits() -> None:
    fit = _fit(4, 80, 131072)

    assert fit.fits
    assert fit.required_bytes == 2 * LLAMA_70B_PARAMS + 4 * 2 * GIB + 131072 * 327680


@given(
    weights=st.integers(min_value=1, max_value=400 * GIB),
    per_token=st.integers(min_value=1, max_value=1 << 20),
    context=st.integers(min_value=1, max_value=1 << 20),
    gpus=st.integers(min_value=1, max_value=16),
    memory_gib=st.integers(min_value=1, max_value=192),
    utilization=st.floats(min_value=0.05, max_value=1.0),
)
def test_fit_is_consistent(
    weights: int, per_token: int, context: int, gpus: int, memory_gib: int, utilization: float
) -> None:
    fit = memory.assess_fit(
        weight_bytes=weights,
        kv_bytes_per_token=per_token,
        context_len=context,
        gpus=gpus,
        gpu_memory_bytes=memory_gib * GIB,
        utilization=utilization,
        heads=None,
    )

    assert fit.fits == (fit.required_bytes <= fit.available_bytes)
    if fit.fits:
        assert fit.weights_fit
    if fit.max_fitting_len is not None:
        # The suggested length really fits beside the weights.
        room = fit.available_bytes - fit.weight_bytes - fit.overhead_bytes
        assert fit.max_fitting_len * per_token <= room
    if fit.gpus_needed is not None:
        assert fit.gpus_needed > gpus
        more = memory.assess_fit(
            weight_bytes=weights,
            kv_bytes_per_token=per_token,
            context_len=context,
            gpus=fit.gpus_needed,
            gpu_memory_bytes=memory_gib * GIB,
            utilization=utilization,
            heads=None,
        )
        assert more.fits


def test_gib_formats_one_decimal() -> None:
    assert memory.gib(2 * LLAMA_70B_PARAMS) == "131.4 GiB"
