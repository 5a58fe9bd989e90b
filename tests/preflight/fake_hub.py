"""A local fake of the Hugging Face Hub's HTTP API, for tests and the benchmark.

It serves, on 127.0.0.1 only, the two endpoints the pre-flight checks use,
answering as the real Hub does (status codes, ``X-Error-Code`` and
``X-Error-Message`` headers, ``{"error": ...}`` bodies):

- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``: model
  info; with ``expand=...`` only ``_id``, ``id`` and the listed fields. Gated
  models answer here without a token (their metadata is public), like the Hub.
- ``GET /api/models/{repo}/tree/{rev}``: the file listing with sizes (``list_repo_tree``);
  model info lists ``siblings`` (with sizes when ``blobs=true``).
- ``GET|HEAD /{repo}/resolve/{rev}/{file}``: the file (``config.json`` or any of
  the repo's ``files``, with the headers ``hf_hub_download`` reads); 401 ``GatedRepo``
  without a token, 403 ``GatedRepo`` with a token that was not granted access,
  401/404 ``RepoNotFound`` for missing or private repos, 404
  ``RevisionNotFound`` and ``EntryNotFound``.

Every request is recorded so tests can count them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

GRANTED_TOKEN = "hf_fakeGrantedToken0123456789abcdefXYZ"
NO_ACCESS_TOKEN = "hf_fakeNoAccessToken0123456789abcdefXY"
VALID_TOKENS = frozenset({GRANTED_TOKEN, NO_ACCESS_TOKEN})


@dataclass
class FakeRepo:
    """One model repository of the fake Hub."""

    model_id: str
    sha: str
    config: dict[str, Any] | None
    safetensors: dict[str, Any] | None = None
    gated: str | bool = False
    private: bool = False
    granted: frozenset[str] = frozenset({GRANTED_TOKEN})
    tags: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    files: dict[str, bytes] = field(default_factory=dict)
    """Files besides ``config.json`` (which comes from ``config``), by path."""

    def contents(self) -> dict[str, bytes]:
        """Every file of the repo, ``config.json`` first."""
        found = {"config.json": json.dumps(self.config).encode()} if self.config else {}
        return {**found, **self.files}

    def commit(self, revision: str) -> str | None:
        """The commit a branch, tag or sha names, or None when it does not exist."""
        if revision in ("main", self.sha):
            return self.sha
        if revision in self.tags.values():
            return revision
        return self.tags.get(revision)


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    authorization: str | None


def _llama_config(hidden: int, layers: int, heads: int, intermediate: int) -> dict[str, Any]:
    # Llama 3.1's config.json, with the sizes of one model of the family.
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 128000,
        "eos_token_id": 128001,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "max_position_embeddings": 131072,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": 8,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        },
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.43.0.dev0",
        "use_cache": True,
        "vocab_size": 128256,
    }


LLAMA_8B_PARAMS = 8_030_261_248
LLAMA_70B_PARAMS = 70_553_706_496
LLAMA_8B_CONFIG = _llama_config(hidden=4096, layers=32, heads=32, intermediate=14336)
LLAMA_70B_CONFIG = _llama_config(hidden=8192, layers=80, heads=64, intermediate=28672)

BGE_CONFIG: dict[str, Any] = {
    "architectures": ["BertModel"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 0,
    "torch_dtype": "float32",
    "type_vocab_size": 2,
    "vocab_size": 30522,
}

GTE_QWEN2_CONFIG: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"],
    "hidden_act": "silu",
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "max_position_embeddings": 131072,
    "max_window_layers": 21,
    "model_type": "qwen2",
    "num_attention_heads": 12,
    "num_hidden_layers": 28,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
    "vocab_size": 151646,
}

GEMMA3_CONFIG: dict[str, Any] = {
    "architectures": ["Gemma3ForCausalLM"],
    "head_dim": 256,
    "hidden_size": 1152,
    "intermediate_size": 6912,
    "max_position_embeddings": 32768,
    "model_type": "gemma3_text",
    "num_attention_heads": 4,
    "num_hidden_layers": 26,
    "num_key_value_heads": 1,
    "torch_dtype": "bfloat16",
    "vocab_size": 262144,
}

MLP_SPECULATOR_CONFIG: dict[str, Any] = {
    "architectures": ["MLPSpeculatorPreTrainedModel"],
    "emb_dim": 4096,
    "inner_dim": 3072,
    "model_type": "mlp_speculator",
    "n_predict": 4,
    "top_k_tokens_per_head": [4, 3, 2, 2],
    "torch_dtype": "float16",
    "vocab_size": 128256,
}

OPT_CONFIG: dict[str, Any] = {
    "architectures": ["OPTForCausalLM"],
    "ffn_dim": 3072,
    "hidden_size": 768,
    "max_position_embeddings": 2048,
    "model_type": "opt",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "torch_dtype": "float16",
    "vocab_size": 50272,
    "word_embed_proj_dim": 768,
}


def _bf16(count: int) -> dict[str, Any]:
    return {"parameters": {"BF16": count}, "total": count}


def default_repos() -> list[FakeRepo]:
    """The repositories the tests and the benchmark use."""
    return [
        FakeRepo(
            "unsloth/Meta-Llama-3.1-8B",
            "a" * 40,
            LLAMA_8B_CONFIG,
            _bf16(LLAMA_8B_PARAMS),
            tags={"v1.0": "b" * 40},
        ),
        FakeRepo("unsloth/Meta-Llama-3.1-70B", "c" * 40, LLAMA_70B_CONFIG, _bf16(LLAMA_70B_PARAMS)),
        FakeRepo(
            "meta-llama/Llama-3.1-8B",
            "d04e592bb4f6aa9cfee91e2e20afa771667e1d4b",
            LLAMA_8B_CONFIG,
            _bf16(LLAMA_8B_PARAMS),
            gated="manual",
        ),
        FakeRepo(
            "acme/private-llama",
            "e" * 40,
            LLAMA_8B_CONFIG,
            _bf16(LLAMA_8B_PARAMS),
            private=True,
        ),
        FakeRepo(
            "BAAI/bge-base-en-v1.5",
            "f" * 40,
            BGE_CONFIG,
            {"parameters": {"F32": 109_482_240}, "total": 109_482_240},
        ),
        FakeRepo(
            "Alibaba-NLP/gte-Qwen2-1.5B-instruct",
            "1" * 40,
            GTE_QWEN2_CONFIG,
            {"parameters": {"F32": 1_776_197_632}, "total": 1_776_197_632},
        ),
        FakeRepo("google/gemma-3-1b-it", "2" * 40, GEMMA3_CONFIG, _bf16(999_885_952)),
        FakeRepo(
            "ibm-fms/llama3-8b-accelerator",
            "3" * 40,
            MLP_SPECULATOR_CONFIG,
            {"parameters": {"F16": 814_809_088}, "total": 814_809_088},
        ),
        FakeRepo(
            "acme/no-architectures",
            "4" * 40,
            {k: v for k, v in LLAMA_8B_CONFIG.items() if k != "architectures"},
            _bf16(LLAMA_8B_PARAMS),
        ),
        FakeRepo("acme/opt-125m-bin-only", "5" * 40, OPT_CONFIG, None),
        FakeRepo("TheBloke/Llama-2-7B-GGUF", "6" * 40, None, None),
        FakeRepo("acme/slow-model", "7" * 40, LLAMA_8B_CONFIG, _bf16(LLAMA_8B_PARAMS), delay=3.0),
    ]


class FakeHub:
    """A threaded HTTP server on 127.0.0.1 that answers like the Hub."""

    def __init__(self, repos: list[FakeRepo] | None = None) -> None:
        self.repos = {repo.model_id: repo for repo in (repos or default_repos())}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to use as ``HF_ENDPOINT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeHub:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes up handlers that are sleeping to simulate slowness."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def record(self, entry: Recorded) -> None:
        """Remember one request."""
        with self._lock:
            self.requests.append(entry)

    def reset(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    @property
    def count(self) -> int:
        """How many requests were received since the last reset."""
        with self._lock:
            return len(self.requests)


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        fake = hub

    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle's algorithm and
    # the client's delayed ACK add ~40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch(send_body=False)

    # -- routing -------------------------------------------------------------

    def _dispatch(self, *, send_body: bool) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        authorization = self.headers.get("authorization")
        self.fake.record(Recorded(self.command, path, query, authorization))
        self._send_body = send_body
        if path.startswith("/api/models/") and "/tree/" in path:
            self._tree(path.removeprefix("/api/models/"))
        elif path.startswith("/api/models/"):
            self._model_info(path.removeprefix("/api/models/"), query)
        elif "/resolve/" in path:
            repo_id, _, rest = path.lstrip("/").partition("/resolve/")
            revision, _, filename = rest.partition("/")
            self._resolve(repo_id, revision, filename)
        else:
            self._error(404, None, "Not Found")

    def _token(self) -> str | None:
        value = self.headers.get("authorization") or ""
        return value.removeprefix("Bearer ").strip() or None

    def _visible_repo(self, repo_id: str) -> FakeRepo | None:
        """The repo, or None after answering as the Hub does for missing/invalid/private."""
        token = self._token()
        if token is not None and token not in VALID_TOKENS:
            self._error(401, None, "Invalid credentials in Authorization header")
            return None
        repo = self.fake.repos.get(repo_id)
        if repo is None or (repo.private and token not in repo.granted):
            # The Hub hides private repos behind the same answer as missing ones,
            # and answers 401 rather than 404 when no token was sent.
            self._error(401 if token is None else 404, "RepoNotFound", "Repository not found")
            return None
        if repo.delay and self.fake.stopping.wait(repo.delay):
            return None
        return repo

    def _model_info(self, rest: str, query: Mapping[str, list[str]]) -> None:
        repo_id, _, revision = rest.partition("/revision/")
        repo = self._visible_repo(repo_id)
        if repo is None:
            return
        commit = repo.commit(revision or "main")
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        body = _info_body(repo, commit, query.get("expand"))
        if "siblings" in body:
            blobs = query.get("blobs", [""])[0].lower() == "true"
            body["siblings"] = [
                {"rfilename": name, **({"size": len(data)} if blobs else {})}
                for name, data in repo.contents().items()
            ]
        self._json(200, body)

    def _tree(self, rest: str) -> None:
        repo_id, _, tail = rest.partition("/tree/")
        revision = tail.partition("/")[0]
        repo = self._visible_repo(repo_id)
        if repo is None:
            return
        if repo.commit(revision) is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        entries = [
            {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": name}
            for name, data in repo.contents().items()
        ]
        self._json(200, entries)

    def _resolve(self, repo_id: str, revision: str, filename: str) -> None:
        repo = self._visible_repo(repo_id)
        if repo is None:
            return
        if repo.gated and self._token() not in repo.granted:
            self._gated(repo)
            return
        commit = repo.commit(revision)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        if filename == "config.json" and repo.config is not None and not repo.files:
            self._json(
                200, repo.config, extra={"X-Repo-Commit": commit, "ETag": f'"{commit[:20]}"'}
            )
            return
        data = repo.contents().get(filename)
        if data is None:
            self._error(404, "EntryNotFound", f'{filename} does not exist on "{revision}"')
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        self.end_headers()
        if self._send_body:
            self.wfile.write(data)

    def _gated(self, repo: FakeRepo) -> None:
        if self._token() is None:
            message = (
                f"Access to model {repo.model_id} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in."
            )
            self._error(401, "GatedRepo", message)
            return
        message = (
            f"Access to model {repo.model_id} is restricted and you are not in the authorized "
            f"list. Visit https://huggingface.co/{repo.model_id} to ask for access."
        )
        self._error(403, "GatedRepo", message)

    # -- answers -------------------------------------------------------------

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code is not None:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, extra=headers)

    def _json(self, status: int, body: Any, extra: Mapping[str, str] | None = None) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-Id", f"Root=fake-{self.fake.count}")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self._send_body:
            self.wfile.write(payload)


def _info_body(repo: FakeRepo, commit: str, expand: list[str] | None) -> dict[str, Any]:
    full: dict[str, Any] = {
        "_id": f"66{commit[:22]}",
        "id": repo.model_id,
        "modelId": repo.model_id,
        "author": repo.model_id.partition("/")[0],
        "sha": commit,
        "lastModified": "2024-09-25T14:34:12.000Z",
        "createdAt": "2024-07-18T08:56:00.000Z",
        "private": repo.private,
        "gated": repo.gated,
        "disabled": False,
        "downloads": 1234,
        "likes": 56,
        "library_name": "transformers",
        "tags": ["transformers", "safetensors"] if repo.safetensors else ["transformers"],
        "pipeline_tag": "text-generation",
        "siblings": [{"rfilename": "config.json"}] if repo.config is not None else [],
        "spaces": [],
    }
    if repo.config is not None:
        # The Hub's "config" field is a summary, not config.json: no layer sizes.
        full["config"] = {
            key: repo.config[key] for key in ("architectures", "model_type") if key in repo.config
        }
    if repo.safetensors is not None:
        full["safetensors"] = copy.deepcopy(repo.safetensors)
    if not expand:
        return full
    return {key: full[key] for key in ("_id", "id", *expand) if key in full}
