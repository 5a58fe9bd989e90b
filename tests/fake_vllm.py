"""A fake vLLM OpenAI-compatible server: the answers and errors vLLM 0.6.4 gives.

One :class:`FakeVLLM` answers ``/health``, ``/v1/models``, ``/v1/completions``
and ``/v1/chat/completions`` either behind the fake API server's service proxy
(:meth:`FakeVLLM.proxy_handler`) or as a real HTTP server on 127.0.0.1
(:meth:`FakeVLLM.serve_http`). Generated text is ``"echo: <prompt>"``, so tests
can check which answer belongs to which prompt. Unknown model names get vLLM's
404, prompts longer than ``max_model_len`` characters its 400; the first
``unavailable`` requests get 503 as while the model loads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fakekube import ProxyRequest


@dataclass
class FakeVLLM:
    """A served model's API; every request is recorded as ``(method, path, body)``."""

    model: str = "llama3-8b-chat"
    max_model_len: int = 200
    unavailable: int = 0
    token: str | None = None
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        """``(status, JSON body)`` for one request, as vLLM's API server would answer."""
        parsed = json.loads(body) if body else None
        with self.lock:
            self.requests.append((method, path, parsed))
            if self.unavailable > 0:
                self.unavailable -= 1
                return 503, {"detail": "Service Unavailable"}
        if self.token is not None:
            sent = {k.lower(): v for k, v in headers.items()}.get("authorization")
            if sent != f"Bearer {self.token}":
                return 401, {"error": "Unauthorized"}
        if path == "/health":
            return 200, ""
        if path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        if path in ("/v1/completions", "/v1/chat/completions") and method == "POST":
            return self._generate(path, parsed or {})
        return 404, {"detail": "Not Found"}

    def _error(self, status: int, message: str, kind: str) -> tuple[int, Any]:
        return status, {"object": "error", "message": message, "type": kind, "code": status}

    def _generate(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("model") != self.model:
            return self._error(
                404, f"The model `{body.get('model')}` does not exist.", "NotFoundError"
            )
        chat = path.endswith("/chat/completions")
        if chat:
            prompts = [body["messages"][-1]["content"]]
        else:
            prompt = body["prompt"]
            prompts = prompt if isinstance(prompt, list) else [prompt]
        for prompt in prompts:
            if len(prompt) + int(body.get("max_tokens", 16)) > self.max_model_len:
                return self._error(
                    400,
                    f"This model's maximum context length is {self.max_model_len} tokens. "
                    f"However, you requested {len(prompt) + body['max_tokens']} tokens.",
                    "BadRequestError",
                )
        choices = []
        for index, prompt in enumerate(prompts):
            text = f"echo: {prompt}" if prompt else ""
            if chat:
                message = {"role": "assistant", "content": text}
                choices.append({"index": index, "message": message, "finish_reason": "stop"})
            else:
                choices.append({"index": index, "text": text, "finish_reason": "stop"})
        tokens = sum(len(p.split()) for p in prompts)
        return 200, {
            "object": "chat.completion" if chat else "text_completion",
            "model": self.model,
            "choices": choices,
            "usage": {
                "prompt_tokens": tokens,
                "completion_tokens": tokens + len(prompts),
                "total_tokens": 2 * tokens + len(prompts),
            },
        }

    def generation_requests(self) -> list[Any]:
        """Bodies of the completion requests received, in order."""
        with self.lock:
            return [body for _, path, body in self.requests if path.startswith("/v1/") and body]

    def proxy_handler(self, request: ProxyRequest) -> tuple[int, Any]:
        """Answer a request forwarded by the fake API server's service proxy."""
        return self.answer(request.method, request.path, request.body, request.headers)

    @contextmanager
    def serve_http(self) -> Iterator[str]:
        """Serve on a free 127.0.0.1 port; yields the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, answer = fake.answer(
                    self.command, self.path, body, dict(self.headers.items())
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _reply  # noqa: N815 - stdlib names
            do_POST = _reply  # noqa: N815

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
