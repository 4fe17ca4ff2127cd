"""A fake OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks (stdlib only).

It serves ``POST /v1/chat/completions`` and ``POST /v1/completions``.  What each request
gets is scripted: actions queued with :meth:`FakeOpenAI.enqueue` are consumed first, one
per request; when the queue is empty the ``behaviour`` callable decides (default: a normal
answer).  Faults cover what real endpoints do to clients: 429 with ``Retry-After``, 5xx,
a connection reset, a hang past the client's timeout, malformed JSON, empty ``choices``,
an empty message and a truncated body.

Everything is bounded so a broken client can never wedge a test run: hangs and delays
wait on an event that :meth:`FakeOpenAI.stop` sets, idle keep-alive connections are shut
down on stop, and every handler thread is joined.

    with FakeOpenAI(answer=lambda prompt: "print('hi')") as server:
        server.enqueue(Action.rate_limited("1"), Action.status(503))
        ... point the client at server.base_url ...
        assert server.request_count == 3
"""

from __future__ import annotations

import collections
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Iterator, Mapping

# Upper bound on any scripted wait: a test that forgets to shorten its client timeout
# costs at most this long, never a hung run.
MAX_WAIT_S = 5.0

KINDS = frozenset(
    {
        "ok",
        "status",
        "reset",
        "hang",
        "malformed",
        "empty_choices",
        "empty_content",
        "truncated",
        "json",
    }
)


@dataclass(frozen=True)
class Action:
    """What the server does with one request.  Build with the class methods."""

    kind: str
    status_code: int = 200
    retry_after: str | None = None
    hang_s: float = 0.0
    text: str | None = None
    body: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown action kind {self.kind!r}; one of {sorted(KINDS)}")

    @classmethod
    def ok(cls, text: str | None = None) -> "Action":
        """A normal answer; ``text`` overrides the server's ``answer`` function."""
        return cls("ok", text=text)

    @classmethod
    def status(cls, code: int, retry_after: str | None = None,
               body: Mapping[str, Any] | None = None) -> "Action":
        """An error response with an OpenAI-style JSON error body."""
        return cls("status", status_code=code, retry_after=retry_after, body=body)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "1") -> "Action":
        return cls.status(429, retry_after=retry_after)

    @classmethod
    def reset(cls) -> "Action":
        """Close the socket with an RST and no response at all."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float = 2.0) -> "Action":
        """Send nothing for ``seconds`` (capped at MAX_WAIT_S), then a normal answer."""
        return cls("hang", hang_s=min(seconds, MAX_WAIT_S))

    @classmethod
    def malformed(cls) -> "Action":
        """200 with ``Content-Type: application/json`` and a body that is not JSON."""
        return cls("malformed")

    @classmethod
    def empty_choices(cls) -> "Action":
        return cls("empty_choices")

    @classmethod
    def empty_content(cls) -> "Action":
        """A choice whose message content (or completion text) is null/empty."""
        return cls("empty_content")

    @classmethod
    def json(cls, body: Mapping[str, Any], status_code: int = 200) -> "Action":
        """Exactly this JSON body (for shapes the other actions do not cover)."""
        return cls("json", status_code=status_code, body=body)

    @classmethod
    def truncated(cls) -> "Action":
        """Content-Length larger than the body, then the connection closes."""
        return cls("truncated")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: Any  # the decoded JSON, or None when it was not JSON
    raw: bytes
    received_at: float = field(default=0.0)

    @property
    def prompt(self) -> str:
        return prompt_of(self.body)


def prompt_of(body: Any) -> str:
    """The prompt of a chat (last user message) or completions request body."""
    if not isinstance(body, dict):
        return ""
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return ""
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        return "".join(str(part) for part in prompt)
    return prompt if isinstance(prompt, str) else ""


def default_answer(prompt: str) -> str:
    return f"```python\n# answer to: {prompt[:60]!r}\nprint('ok')\n```"


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads that server_close() joins: stop() really waits for
    # every handler, so no thread outlives the test that started the server.
    daemon_threads = False
    block_on_close = True
    # A benchmark opens many connections at once; the default backlog of 5 would make
    # the kernel drop SYNs and the client retry after a second.
    request_queue_size = 128
    allow_reuse_address = True
    fake: "FakeOpenAI"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or reset leave broken sockets behind; that is the point
        # of most tests, so it is counted rather than printed as a traceback.
        self.fake._count_handler_error()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints and the SDK expect
    server: _Server
    # A socket timeout bounds an idle keep-alive connection whose client vanished.
    timeout = 10
    # Headers and body go out in separate writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms per request on Linux loopback).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None  # keep test output clean

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._send_json(404, {"error": {"message": "only POST is served", "type": "invalid_request_error"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = RecordedRequest(
            method="POST",
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            raw=raw,
            received_at=time.monotonic(),
        )
        action = fake._begin(record)
        try:
            self._serve(fake, record, action)
        finally:
            fake._end()

    # ---- actions

    def _serve(self, fake: "FakeOpenAI", record: RecordedRequest, action: Action) -> None:
        route = record.path.split("?", 1)[0].rstrip("/")
        if route not in ("/v1/chat/completions", "/v1/completions"):
            self._send_json(404, {"error": {"message": f"no route {route}", "type": "invalid_request_error"}})
            return
        if fake.delay_s:
            fake._wait(fake.delay_s)
        chat = route.endswith("/chat/completions")
        kind = action.kind
        if kind == "reset":
            # SO_LINGER 0 makes close() send RST: the client sees a reset, not a clean EOF.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if kind == "hang":
            fake._wait(action.hang_s)
            kind = "ok"  # too late for a client that timed out; harmless otherwise
        if kind == "status":
            error = action.body or {
                "error": {
                    "message": f"fake server error {action.status_code}",
                    "type": "server_error" if action.status_code >= 500 else "invalid_request_error",
                    "code": None,
                }
            }
            headers = {"Retry-After": action.retry_after} if action.retry_after is not None else {}
            self._send_json(action.status_code, error, headers)
            return
        if kind == "json":
            self._send_json(action.status_code, action.body)
            return
        if kind == "malformed":
            self._send_raw(200, b'{"id": "broken", "choices": [ {"index": 0, "mess', "application/json")
            return
        if kind == "truncated":
            payload = json.dumps(self._answer(fake, record, chat, action)).encode()
            cut = payload[: len(payload) // 2]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(cut)
            self.wfile.flush()
            self.close_connection = True  # the promised rest never comes
            return
        answer = self._answer(fake, record, chat, action)
        if kind == "empty_choices":
            answer["choices"] = []
        elif kind == "empty_content":
            if chat:
                answer["choices"][0]["message"]["content"] = None
            else:
                answer["choices"][0]["text"] = ""
        self._send_json(200, answer)

    def _answer(self, fake: "FakeOpenAI", record: RecordedRequest, chat: bool, action: Action) -> dict[str, Any]:
        prompt = record.prompt
        text = action.text if action.text is not None else fake.answer(prompt)
        model = record.body.get("model", "fake") if isinstance(record.body, dict) else "fake"
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(text.split()),
            "total_tokens": len(prompt.split()) + len(text.split()),
        }
        serial = fake._serial()
        if chat:
            return {
                "id": f"chatcmpl-fake-{serial}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            }
        return {
            "id": f"cmpl-fake-{serial}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
            "usage": usage,
        }

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(self, status: int, data: bytes, content_type: str,
                  headers: Mapping[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            # The client gave up (timed out) before the answer: nothing to tell it.
            self.close_connection = True


class FakeOpenAI:
    """A scripted OpenAI-compatible server on ``127.0.0.1`` and a free port.

    ``answer(prompt) -> text`` writes normal answers; ``behaviour(request) -> Action``
    decides requests the queue does not; ``delay_s`` is added before every response.
    """

    def __init__(
        self,
        answer: Callable[[str], str] = default_answer,
        *,
        behaviour: Callable[[RecordedRequest], Action] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.answer = answer
        self.behaviour = behaviour
        self.delay_s = min(delay_s, MAX_WAIT_S)
        self._lock = threading.Lock()
        self._queue: Deque[Action] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._serials = 0
        self.handler_errors = 0
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> "FakeOpenAI":
        if self._httpd is not None:
            raise RuntimeError("already started")
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()  # wakes every hang and delay at once
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            # A handler blocked reading the next keep-alive request returns at once.
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()  # joins every handler thread (block_on_close)
        if thread is not None:
            thread.join(timeout=MAX_WAIT_S)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- scripting

    def enqueue(self, *actions: Action | str) -> None:
        """Queue actions for the next requests, in order (a kind name means its default)."""
        with self._lock:
            self._queue.extend(_coerce(action) for action in actions)

    def always(self, action: Action | str) -> None:
        """Every request not decided by the queue gets ``action``."""
        fixed = _coerce(action)
        self.behaviour = lambda _request: fixed

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    # ---- observations

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def max_in_flight(self) -> int:
        """The most requests this server was handling at the same moment."""
        with self._lock:
            return self._max_in_flight

    def reset_counts(self) -> None:
        with self._lock:
            self._requests.clear()
            self._max_in_flight = 0

    # ---- used by the handler

    def _begin(self, record: RecordedRequest) -> Action:
        with self._lock:
            self._requests.append(record)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if self._queue:
                return self._queue.popleft()
        behaviour = self.behaviour
        return behaviour(record) if behaviour is not None else Action.ok()

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _serial(self) -> int:
        with self._lock:
            self._serials += 1
            return self._serials

    def _count_handler_error(self) -> None:
        with self._lock:
            self.handler_errors += 1

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(min(seconds, MAX_WAIT_S))

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def _coerce(action: Action | str) -> Action:
    if isinstance(action, Action):
        return action
    simple: dict[str, Callable[[], Action]] = {
        "ok": Action.ok,
        "429": Action.rate_limited,
        "500": lambda: Action.status(500),
        "502": lambda: Action.status(502),
        "503": lambda: Action.status(503),
        "reset": Action.reset,
        "hang": Action.hang,
        "malformed": Action.malformed,
        "empty_choices": Action.empty_choices,
        "empty_content": Action.empty_content,
        "truncated": Action.truncated,
    }
    if action not in simple:
        raise ValueError(f"unknown action {action!r}; one of {sorted(simple)}")
    return simple[action]()


def run_requests(count: int, send: Callable[[int], object], threads: int) -> list[object]:
    """Call ``send(i)`` for ``i < count`` from ``threads`` threads (for concurrency tests)."""
    results: list[object] = [None] * count
    indexes: Iterator[int] = iter(range(count))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                i = next(indexes, None)
            if i is None:
                return
            try:
                results[i] = send(i)
            except Exception as exc:  # collected for the assertion, not swallowed
                results[i] = exc

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    return results
