"""The packaged vLLM 0.6.4 architecture table and its lookups."""

from __future__ import annotations

from importlib import resources

import pytest

from airflow_provider_hfinfer.checks.preflight import load_architectures
from airflow_provider_hfinfer.checks.preflight.architectures import closest_architectures

SHARED_TABLE = "vllm-0.6.4-architectures.tsv"


def test_table_has_the_93_architectures_of_vllm_0_6_4() -> None:
    table = load_architectures()

    assert len(table) == 93
    assert {"LlamaForCausalLM", "BertModel", "MedusaModel", "XverseForCausalLM"} <= set(table)


def test_table_ships_as_package_data() -> None:
    path = resources.files("airflow_provider_hfinfer").joinpath(
        "data", "vllm_0_6_4_architectures.tsv"
    )

    assert path.is_file()
    assert "LlamaForCausalLM\ttext-generation,embedding" in path.read_text(encoding="utf-8")


def test_table_is_read_once_and_read_only() -> None:
    table = load_architectures()

    assert load_architectures() is table
    with pytest.raises(TypeError):
        table["MadeUpForCausalLM"] = table["LlamaForCausalLM"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "embedding", "generation", "multimodal", "draft", "needs_flag"),
    [
        ("LlamaForCausalLM", True, True, False, False, True),
        ("Qwen2ForCausalLM", True, True, False, False, True),
        ("BertModel", True, False, False, False, False),
        ("Qwen2Model", True, False, False, False, False),
        ("Qwen2ForRewardModel", True, False, False, False, False),
        ("MixtralForCausalLM", False, True, False, False, False),
        ("LlavaForConditionalGeneration", False, True, True, False, False),
        ("Phi3VForCausalLM", True, True, True, False, True),
        ("MedusaModel", False, False, False, True, False),
        ("EAGLEModel", False, False, False, True, False),
        ("MLPSpeculatorPreTrainedModel", False, False, False, True, False),
    ],
)
def test_flags_follow_the_task_column(
    name: str,
    embedding: bool,
    generation: bool,
    multimodal: bool,
    draft: bool,
    needs_flag: bool,
) -> None:
    info = load_architectures()[name]

    assert (
        info.is_embedding,
        info.is_generation,
        info.is_multimodal,
        info.is_speculative_draft,
        info.needs_task_flag,
    ) == (embedding, generation, multimodal, draft, needs_flag)


def test_vllm_class_is_read() -> None:
    assert load_architectures()["BertModel"].vllm_class == "bert.BertEmbeddingModel"


def test_closest_names_for_a_newer_architecture() -> None:
    assert set(closest_architectures("Gemma3ForCausalLM")[:2]) == {
        "Gemma2ForCausalLM",
        "GemmaForCausalLM",
    }


def test_closest_names_never_suggest_draft_only_architectures() -> None:
    assert "MedusaModel" not in closest_architectures("MedusaModels")


def test_closest_embedding_names_are_embedding_capable() -> None:
    names = closest_architectures("Gemma3Model", embedding_only=True)

    assert names
    assert all(load_architectures()[name].is_embedding for name in names)
