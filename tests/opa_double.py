"""An OPA REST API protocol double: a test server, not OPA.

It speaks the documented endpoints and error shapes of OPA's REST API v1
(https://www.openpolicyagent.org/docs/rest-api) and evaluates Rego with the embedded
engine, regorus. It is the one stand-in the test suite allows, because no OPA binary
can be installed on this machine; set ``MLGATE_TEST_OPA_URL`` to run the same tests
against a real ``opa run --server``.

Endpoints (as documented):

- ``PUT /v1/policies/{id}`` (text/plain Rego): 200 ``{}``; a module regorus rejects
  is 400 ``invalid_parameter`` with ``errors: [{code, message, location}]``
- ``GET /v1/policies``, ``GET /v1/policies/{id}``: ``{"result": ...}`` with ``id`` and
  ``raw`` (no ``ast``: that is OPA's own AST, which regorus does not produce);
  ``DELETE /v1/policies/{id}``: 200 ``{}``; unknown ids are 404 ``resource_not_found``
- ``PUT /v1/data[/{path}]``: 204, creating parents like ``mkdir -p``; ``If-None-Match: *``
  on an existing document is 304; a non-object parent is 404 ``resource_conflict``
- ``GET /v1/data[/{path}]`` and ``POST /v1/data[/{path}]`` with ``{"input": ...}``:
  ``{"result": value}``, or ``{}`` when the document is undefined; ``provenance=true``
  adds ``provenance`` (with ``bundles.<name>.revision`` when a revision is configured);
  ``decision_id`` only when configured; a malformed body is 400 ``invalid_parameter``
- ``GET /health``: 200 ``{}``

Test knobs: :meth:`OpaDouble.fail_with` (status + OPA's error body),
:meth:`OpaDouble.respond_raw` (any status and body, e.g. a proxy's HTML page),
:attr:`OpaDouble.delay` (seconds before answering), :meth:`OpaDouble.make_undefined`
(a data path answers ``{}``), ``token=`` (401 ``unauthorized`` without that bearer
token), and :attr:`OpaDouble.requests` (every request with its headers, recorded).

A regorus ``Engine`` panics when used from a thread other than its creator, so each
handler thread compiles its own engine, cached per thread and per policy generation,
and evaluates a clone of it (a clone carries no input from an earlier request).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mlgate.errors import one_line
from mlgate.policy import PolicySet

DOUBLE_VERSION = "0.0.0-mlgate-protocol-double"
DEFAULT_BUNDLE = "mlgate"

_local = threading.local()


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class _Forced:
    status: int
    body: bytes
    content_type: str


@dataclass
class _State:
    """Policies and data; ``generation`` changes with every write (engines cache by it)."""

    modules: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    generation: int = 0


class RegoRejected(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<row>\d+):(?P<col>\d+)")
_WHAT = re.compile(r"^error:\s*(?P<what>.+)$", re.MULTILINE)


def _rego_error(exc: BaseException, code: str) -> dict[str, Any]:
    """regorus's ``--> file:row:col ... error: what`` as an OPA error object."""
    text = str(exc).split("Stack backtrace:")[0]
    what = _WHAT.search(text)
    error: dict[str, Any] = {
        "code": code,
        "message": what.group("what").strip() if what else one_line(text),
    }
    where = _LOCATION.search(text)
    if where:
        error["location"] = {
            "file": where.group("file"),
            "row": int(where.group("row")),
            "col": int(where.group("col")),
        }
    return error


def _compile(modules: dict[str, str], data: dict[str, Any]) -> Any:
    """A regorus engine with ``modules`` (ids as file names) and ``data``; raises RegoRejected."""
    import regorus

    engine = regorus.Engine()
    for module_id, source in sorted(modules.items()):
        try:
            engine.add_policy(module_id, source)
        except BaseException as exc:  # noqa: BLE001 - Rust panics are BaseException
            raise RegoRejected([_rego_error(exc, "rego_parse_error")]) from exc
    engine.add_data_json(json.dumps(data))
    return engine


def _ref(segments: list[str]) -> str:
    """``data["a"]["b"]``: bracket form, so that any path segment is a valid ref."""
    return "data" + "".join(f"[{json.dumps(s)}]" for s in segments)


class OpaDouble:
    """A running OPA REST API protocol double on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        policy_set: PolicySet | None = None,
        *,
        revision: str = "",
        bundle_name: str = DEFAULT_BUNDLE,
        decision_ids: bool = False,
        token: str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        self.revision = revision
        self.bundle_name = bundle_name
        self.decision_ids = decision_ids
        self.token = token
        self.delay = 0.0
        self.requests: list[RecordedRequest] = []
        self._forced: _Forced | None = None
        self._undefined: set[str] = set()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}
        if policy_set is not None:
            _compile(policy_set.modules, policy_set.data)  # a broken set fails here, loudly
            self._state.modules = dict(policy_set.modules)
            self._state.data = json.loads(json.dumps(policy_set.data))

    # ------------------------------------------------------------------ knobs

    def fail_with(
        self,
        status: int = 500,
        code: str = "internal_error",
        message: str = "simulated internal error",
    ) -> None:
        """Answer every request with ``status`` and OPA's error body ``{code, message}``."""
        body = json.dumps({"code": code, "message": message}).encode()
        self._forced = _Forced(status, body, "application/json")

    def respond_raw(self, status: int, body: str, content_type: str = "text/html") -> None:
        """Answer every request with this status and body (e.g. a proxy's error page)."""
        self._forced = _Forced(status, body.encode(), content_type)

    def make_undefined(self, path: str = "mlgate/main/decision") -> None:
        """The Data API answers ``{}`` (undefined) for ``path``."""
        self._undefined.add(path.strip("/"))

    def reset(self) -> None:
        self._forced = None
        self._undefined.clear()
        self.delay = 0.0

    @property
    def modules(self) -> dict[str, str]:
        with self._lock:
            return dict(self._state.modules)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the OPA protocol double is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits for the serve loop
            name="opa-double",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = dict(self._connections)
        for conn in connections:  # keep-alive connections would otherwise go on serving
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        # Handler threads drop their regorus engines as they end; wait for them, so that
        # no engine is left for another thread to drop (regorus forbids that).
        for thread in [*connections.values(), self._thread]:
            if thread is not None:
                thread.join(timeout=5)

    def __enter__(self) -> OpaDouble:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ state (under lock)

    def _snapshot(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            s = self._state
            return s.generation, s.modules, s.data

    def _put_policy(self, module_id: str, source: str) -> None:
        with self._lock:
            modules = {**self._state.modules, module_id: source}
            _compile(modules, self._state.data)
            self._state.modules = modules
            self._state.generation += 1

    def _delete_policy(self, module_id: str) -> bool:
        with self._lock:
            if module_id not in self._state.modules:
                return False
            modules = dict(self._state.modules)
            del modules[module_id]
            self._state.modules = modules
            self._state.generation += 1
            return True

    def _put_data(self, segments: list[str], value: Any, if_none_match: bool) -> int:
        with self._lock:
            if not segments:
                if not isinstance(value, dict):
                    raise _ApiError(400, "invalid_parameter", "root document must be an object")
                self._state.data = value
                self._state.generation += 1
                return 204
            data = json.loads(json.dumps(self._state.data))
            node = data
            for seg in segments[:-1]:
                child = node.setdefault(seg, {})
                if not isinstance(child, dict):
                    raise _ApiError(
                        404,
                        "resource_conflict",
                        f"storage_write_conflict_error: /{'/'.join(segments)}",
                    )
                node = child
            if if_none_match and segments[-1] in node:
                return 304
            node[segments[-1]] = value
            self._state.data = data
            self._state.generation += 1
            return 204

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self, segments: list[str], input_doc: Any, has_input: bool) -> tuple[bool, Any]:
        """(defined, value) of ``data.<segments>``, on an engine built on this thread."""
        generation, modules, data = self._snapshot()
        cache: dict[tuple[int, int], Any] = getattr(_local, "engines", None) or {}
        _local.engines = cache
        key = (id(self), generation)
        template = cache.get(key)
        if template is None:
            template = _compile(modules, data)
            cache.clear()  # older generations are never asked for again
            cache[key] = template
        engine = template.clone()
        if has_input:
            engine.set_input_json(json.dumps(input_doc))
        try:
            rows = engine.eval_query(_ref(segments)).get("result", [])
        except BaseException as exc:  # noqa: BLE001 - regorus errors and panics
            if isinstance(exc, KeyboardInterrupt):
                raise
            error = _rego_error(exc, "eval_error")
            raise _ApiError(500, "internal_error", error["message"], [error]) from exc
        values = [e["value"] for row in rows for e in row.get("expressions", [])]
        return (True, values[0]) if values else (False, None)

    def _provenance(self) -> dict[str, Any]:
        provenance: dict[str, Any] = {"version": DOUBLE_VERSION}
        if self.revision:
            provenance["bundles"] = {self.bundle_name: {"revision": self.revision}}
        return provenance


class _ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message}
        if errors:
            self.body["errors"] = errors


def _true(query: dict[str, list[str]], name: str) -> bool:
    """OPA's boolean query parameter: present and empty, or ``true`` in any case."""
    values = query.get(name)
    if values is None:
        return False
    return values == [""] or any(v.lower() == "true" for v in values)


class _Handler(BaseHTTPRequestHandler):
    double: OpaDouble
    protocol_version = "HTTP/1.1"  # keep-alive, so a client's session reuses one thread
    server_version = "opa-protocol-double"

    disable_nagle_algorithm = True  # headers and body go out in two writes

    def setup(self) -> None:
        super().setup()
        with self.double._lock:
            self.double._connections[self.connection] = threading.current_thread()

    def finish(self) -> None:
        _local.engines = None  # drop this thread's engines here, on their own thread
        with self.double._lock:
            self.double._connections.pop(self.connection, None)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    # -------------------------------------------------------------- plumbing

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
        self.send_response(status)
        if status in (204, 304):
            self.end_headers()
            return
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document).encode())

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        double = self.double
        with double._lock:
            double.requests.append(
                RecordedRequest(
                    self.command,
                    split.path,
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
        if double.delay and double._stopping.wait(double.delay):
            return  # stopping: drop the answer
        if double.token is not None and (
            self.headers.get("Authorization") != f"Bearer {double.token}"
        ):
            self._json(401, {"code": "unauthorized", "message": "missing or invalid token"})
            return
        forced = double._forced
        if forced is not None:
            self._send(forced.status, forced.body, forced.content_type)
            return
        try:
            self._route(split.path, query, body)
        except _ApiError as exc:
            self._json(exc.status, exc.body)
        except RegoRejected as exc:
            self._json(
                400,
                {
                    "code": "invalid_parameter",
                    "message": "error(s) occurred while compiling module(s)",
                    "errors": exc.errors,
                },
            )
        except Exception as exc:  # noqa: BLE001 - a bug in the double is a 500, not a hang
            self._json(500, {"code": "internal_error", "message": one_line(str(exc))})

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _handle

    # -------------------------------------------------------------- routes

    def _route(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        method = self.command
        if path == "/health":
            if method != "GET":
                raise _ApiError(405, "invalid_operation", "method not allowed")
            self._json(200, {})
            return
        if path == "/v1/policies" or path.startswith("/v1/policies/"):
            self._policies(method, unquote(path[len("/v1/policies/") :]), body)
            return
        if path == "/v1/data" or path.startswith("/v1/data/"):
            rest = unquote(path[len("/v1/data") :]).strip("/")
            self._data(method, [s for s in rest.split("/") if s], query, body)
            return
        self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _policies(self, method: str, module_id: str, body: bytes) -> None:
        double = self.double
        if not module_id:
            if method != "GET":
                raise _ApiError(405, "invalid_operation", "method not allowed")
            modules = double.modules
            self._json(200, {"result": [{"id": i, "raw": modules[i]} for i in sorted(modules)]})
            return
        if method == "PUT":
            try:
                source = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _ApiError(400, "invalid_parameter", f"module is not UTF-8: {exc}") from exc
            double._put_policy(module_id, source)
            self._json(200, {})
        elif method == "GET":
            modules = double.modules
            if module_id not in modules:
                raise _ApiError(404, "resource_not_found", f"storage_not_found_error: {module_id}")
            self._json(200, {"result": {"id": module_id, "raw": modules[module_id]}})
        elif method == "DELETE":
            if not double._delete_policy(module_id):
                raise _ApiError(404, "resource_not_found", f"storage_not_found_error: {module_id}")
            self._json(200, {})
        else:
            raise _ApiError(405, "invalid_operation", "method not allowed")

    def _data(
        self, method: str, segments: list[str], query: dict[str, list[str]], body: bytes
    ) -> None:
        double = self.double
        if method == "PUT":
            try:
                value = json.loads(body or b"null")
            except ValueError as exc:
                raise _ApiError(
                    400, "invalid_parameter", f"body contains malformed JSON: {exc}"
                ) from exc
            status = double._put_data(
                segments, value, self.headers.get("If-None-Match", "").strip() == "*"
            )
            self._send(status)
            return
        if method not in ("GET", "POST"):
            raise _ApiError(405, "invalid_operation", "method not allowed")
        answer: dict[str, Any] = {}
        has_input, input_doc = False, None
        if method == "POST" and body.strip():
            try:
                request = json.loads(body)
            except ValueError as exc:
                raise _ApiError(
                    400, "invalid_parameter", f"body contains malformed input document: {exc}"
                ) from exc
            if not isinstance(request, dict):
                raise _ApiError(
                    400,
                    "invalid_parameter",
                    "body contains malformed input document: expected an object",
                )
            if "input" in request:
                has_input, input_doc = True, request["input"]
            else:
                answer["warning"] = {
                    "code": "api_usage_warning",
                    "message": "'input' key missing from the request",
                }
        elif method == "GET" and "input" in query:
            try:
                has_input, input_doc = True, json.loads(query["input"][0])
            except ValueError as exc:
                raise _ApiError(400, "invalid_parameter", f"malformed input: {exc}") from exc
        if "/".join(segments) in double._undefined:
            defined, value = False, None
        else:
            defined, value = double._evaluate(segments, input_doc, has_input)
        if defined:
            answer["result"] = value
        if double.decision_ids:
            answer["decision_id"] = str(uuid.uuid4())
        if _true(query, "provenance"):
            answer["provenance"] = double._provenance()
        self._json(200, answer)


@contextmanager
def running_double(
    policy_set: PolicySet | None = None, revision: str = "", **options: Any
) -> Iterator[str]:
    """Start a double (loaded with ``policy_set``, if given) and yield its URL."""
    with OpaDouble(policy_set, revision=revision, **options) as double:
        yield double.url
