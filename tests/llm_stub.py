"""An OpenAI-compatible stub server on 127.0.0.1 for every test that talks to an LLM.

It serves ``POST /v1/chat/completions`` from a queue of scripted replies and
``GET /v1/models``, and records every request.  No test ever reaches a real
endpoint: point the client at ``stub.url``.

Use it through the ``llm_stub`` fixture (import it in ``tests/conftest.py``)::

    def test_my_agent(llm_stub):
        llm_stub.reply('{"x": 1}')                      # a normal reply
        llm_stub.error(429, retry_after=0.01)           # then a rate limit ...
        llm_stub.reply("ok", delay=0.5)                 # ... a slow reply
        llm = OpenAIClient(model="stub", base_url=llm_stub.url, api_key="test-key")
        ...
        assert llm_stub.requests[0].body["response_format"]["type"] == "json_schema"

Script replies with :meth:`LLMStub.reply`, :meth:`LLMStub.json`,
:meth:`LLMStub.error`, :meth:`LLMStub.truncated` and :meth:`LLMStub.garbage`
(each returns the stub, so calls chain), or answer every request with a
function via :meth:`LLMStub.respond_with`.  :meth:`LLMStub.reject_formats`
makes the server answer 400 to the named ``response_format`` types, the way
servers without structured output do.  An empty queue answers 500 with
``stub queue is empty`` so a test that sends more than it scripted fails
loudly.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["LLMStub", "StubReply", "StubRequest", "llm_stub"]


@dataclass
class StubReply:
    """One scripted answer.

    Attributes
    ----------
    status
        HTTP status (200 for a completion).
    text
        The assistant message content (for status 200).
    body
        A raw JSON body sent instead of a built one (or a ``str`` sent verbatim).
    headers
        Extra response headers (``Retry-After`` ...).
    delay
        Seconds to wait before answering (to trigger client timeouts).
    usage
        ``True``: compute token counts (``len // 4``); ``None``: omit ``usage``;
        a dict: send it as is.
    finish_reason
        ``"stop"`` or ``"length"``.
    reasoning
        A reasoning model's thinking, sent next to the content in the message
        field named *reasoning_field* (``reasoning_content`` as vLLM and
        DeepSeek send it, or ``reasoning``); ``None``: no such field.
    """

    status: int = 200
    text: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: bool | dict[str, int] | None = True
    finish_reason: str = "stop"
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"


@dataclass
class StubRequest:
    """One request the stub received: its path, headers (lower-cased keys) and JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class LLMStub:
    """The stub server; start it with ``with LLMStub() as stub:`` or the fixture.

    Attributes
    ----------
    url
        The base URL to give clients, ``http://127.0.0.1:<port>/v1``.
    requests
        Every request received, in order (chat and models requests alike).
    model
        The model name reported in replies and by ``/v1/models``.
    """

    def __init__(self, model: str = "stub-model") -> None:
        self.model = model
        self.requests: list[StubRequest] = []
        self._queue: deque[StubReply] = deque()
        self._handler: Callable[[StubRequest], StubReply | str] | None = None
        self._rejected: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------ scripting
    def push(self, *replies: StubReply) -> LLMStub:
        """Queue *replies*, answered in order, one per chat request."""
        with self._lock:
            self._queue.extend(replies)
        return self

    def reply(self, text: str, **kw: Any) -> LLMStub:
        """Queue a normal completion with content *text* (``StubReply`` fields as keywords)."""
        return self.push(StubReply(text=text, **kw))

    def json(self, value: Any, **kw: Any) -> LLMStub:
        """Queue a completion whose content is ``json.dumps(value)``."""
        return self.reply(json.dumps(value), **kw)

    def truncated(self, value: Any, keep: float = 0.5, **kw: Any) -> LLMStub:
        """Queue the first *keep* fraction of ``json.dumps(value)``, cut like ``max_tokens`` cuts."""
        text = json.dumps(value)
        kw.setdefault("finish_reason", "length")
        return self.reply(text[: max(1, int(len(text) * keep))], **kw)

    def garbage(
        self, text: str = "Sure! Here is the model you asked for: x >= 3 maybe", **kw: Any
    ) -> LLMStub:
        """Queue a reply that is not JSON at all."""
        return self.reply(text, **kw)

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        **kw: Any,
    ) -> LLMStub:
        """Queue an HTTP error with an OpenAI-style error body (and ``Retry-After``)."""
        headers = dict(kw.pop("headers", {}))
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        body = {"error": {"message": message or f"stub error {status}", "type": "stub_error",
                          "code": status}}  # fmt: skip
        return self.push(StubReply(status=status, body=body, headers=headers, **kw))

    def respond_with(self, handler: Callable[[StubRequest], StubReply | str] | None) -> LLMStub:
        """Answer chat requests with ``handler(request)`` (a ``str`` is the reply text).

        The queue is used first; the handler answers when it is empty.
        """
        self._handler = handler
        return self

    def reject_formats(self, *types: str) -> LLMStub:
        """Answer 400 to requests whose ``response_format.type`` is in *types*.

        Rejected requests do not consume queued replies.
        """
        self._rejected = set(types)
        return self

    @property
    def chat_requests(self) -> list[StubRequest]:
        """The ``/chat/completions`` requests, in order."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def pending(self) -> int:
        """Queued replies not yet served."""
        return len(self._queue)

    # ------------------------------------------------------------ serving
    def _answer(self, req: StubRequest) -> StubReply:
        body = req.body if isinstance(req.body, dict) else {}
        rf = body.get("response_format")
        if isinstance(rf, dict) and rf.get("type") in self._rejected:
            msg = f"response_format type {rf.get('type')!r} is not supported by this server"
            return StubReply(
                status=400, body={"error": {"message": msg, "type": "invalid_request_error"}}
            )
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self._handler is not None:
            out = self._handler(req)
            return StubReply(text=out) if isinstance(out, str) else out
        return StubReply(status=500, body={"error": {"message": "stub queue is empty"}})

    def _completion_body(self, req: StubRequest, r: StubReply) -> dict[str, Any]:
        text = r.text or ""
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if r.reasoning is not None:
            message[r.reasoning_field] = r.reasoning
        out: dict[str, Any] = {
            "id": f"chatcmpl-stub-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": r.finish_reason,
                }
            ],  # fmt: skip
        }
        if r.usage is True:
            msgs = req.body.get("messages", []) if isinstance(req.body, dict) else []
            pt = sum(len(str(m.get("content", ""))) for m in msgs) // 4
            ct = len(text) // 4
            out["usage"] = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
        elif isinstance(r.usage, dict):
            out["usage"] = r.usage
        return out

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # never print headers
                return

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                data = payload if isinstance(payload, bytes) else (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                )  # fmt: skip
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout test)
                    self.close_connection = True

            def _record(self, body: Any) -> StubRequest:
                req = StubRequest(self.command, self.path,
                                  {k.lower(): v for k, v in self.headers.items()}, body)  # fmt: skip
                with stub._lock:
                    stub.requests.append(req)
                return req

            def do_GET(self) -> None:
                self._record(None)
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [
                        {"id": stub.model, "object": "model", "created": 0, "owned_by": "stub"}]})  # fmt: skip
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                req = self._record(body)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                r = stub._answer(req)
                if r.delay > 0 and stub._stop.wait(r.delay):
                    return
                if r.status == 200 and r.body is None:
                    payload: Any = stub._completion_body(req, r)
                else:
                    payload = r.body if r.body is not None else {"error": {"message": "stub"}}
                self._send(r.status, payload, r.headers)

        return Handler

    def start(self) -> LLMStub:
        """Start serving on a free port of 127.0.0.1."""
        handler = self._make_handler()
        server_cls = type("StubServer", (ThreadingHTTPServer,), {"request_queue_size": 256})
        server = server_cls(("127.0.0.1", 0), handler)  # dozens of clients connect at once
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="llm-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (pending delayed replies are abandoned)."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LLMStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def llm_stub() -> Iterator[LLMStub]:
    """A running :class:`LLMStub`; its ``url`` goes to ``OpenAIClient(base_url=...)``."""
    with LLMStub() as stub:
        yield stub
