"""A test HTTP server speaking OPA's REST API v1, deciding with OPA's own Go library.

The REST layer is ours; compiling and evaluating are OPA's: every policy upload compiles
all stored modules plus the new one with OPA's compiler (``opa-golib-python-bindings``,
OPA v1.20.2 in-process, see :mod:`mlgate.engine.golib`), and every Data API read is
evaluated by OPA. Its status codes and error bodies are those of OPA's
``v1/server/server.go`` (https://www.openpolicyagent.org/docs/rest-api); set
``MLGATE_TEST_OPA_URL`` to run the same tests against a real ``opa run --server``.

Endpoints, as OPA's server answers them:

- ``PUT /v1/policies/{id}`` (Rego text): 200 ``{}``. The same bytes as stored: 200 at
  once. Otherwise the module is parsed, then compiled with every stored module and the
  data; a parse or compile failure is 400 ``{"code": "invalid_parameter", "message":
  "error(s) occurred while compiling module(s)", "errors": [...]}`` with OPA's error
  objects (``code``, ``message``, ``location`` {file, row, col}); nothing is stored.
- ``GET /v1/policies``, ``GET /v1/policies/{id}``: ``{"result": ...}`` with ``id`` and
  ``raw`` (no ``ast``); ``DELETE /v1/policies/{id}``: 200 ``{}``, or 400
  ``invalid_operation`` when the remaining modules no longer compile; an unknown id is
  404 ``resource_not_found`` ``storage_not_found_error: policy id "<id>"``
- ``PUT /v1/data[/{path}]``: 204, creating parents like ``mkdir -p``; ``If-None-Match: *``
  on an existing document is 304; a non-object parent is 404 ``resource_conflict``;
  data that conflicts with the policies is 400 ``invalid_parameter``
- ``GET /v1/data[/{path}]`` and ``POST /v1/data[/{path}]`` with ``{"input": ...}``:
  ``{"result": value}``, or ``{}`` when the document is undefined; an evaluation error is
  500 ``internal_error`` ``error(s) occurred while evaluating query`` with OPA's error;
  ``provenance=true`` adds ``provenance`` (with ``bundles.<name>.revision`` when a
  revision is configured); ``decision_id`` only when configured; a malformed body is 400
  ``invalid_parameter``
- ``GET /health``: 200 ``{}``

Where it differs from OPA's server: the bindings print errors as text, without a column
except under a parse error's caret, so ``location.col`` is given for parse errors only;
``ast`` is not returned; there are no bundles, metrics, explain or Query/Compile APIs.

Test knobs, for our error handling (they make it a double, not OPA, while set):
:meth:`OpaTestServer.fail_with` (status + OPA's error body), :meth:`respond_raw` (any
status and body, e.g. a proxy's HTML page), :attr:`delay` (seconds before answering),
:meth:`make_undefined` (a data path answers ``{}``), ``token=`` (401 ``unauthorized``
without that bearer token), and :attr:`requests` (every request, recorded).
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from contextlib import suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mlgate.engine import golib
from mlgate.errors import one_line
from mlgate.policy import PolicySet

SERVER_VERSION = "0.0.0-mlgate-opa-test-server"
DEFAULT_BUNDLE = "mlgate"
MSG_COMPILE_MODULE_ERROR = "error(s) occurred while compiling module(s)"
MSG_EVALUATION_ERROR = "error(s) occurred while evaluating query"


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


@dataclass(frozen=True)
class _State:
    """Policies and data, and OPA compiled with exactly these (replaced on every write)."""

    modules: dict[str, str]
    data: dict[str, Any]
    compiled: Any


def _compile(modules: dict[str, str], data: dict[str, Any], code: str) -> Any:
    """OPA compiling ``modules`` with ``data``; a failure is OPA's 400 with ``code``."""
    try:
        return golib.compile_modules(modules, data)
    except golib.OpaRejected as exc:
        raise _ApiError(400, code, MSG_COMPILE_MODULE_ERROR, exc.errors) from exc


def _not_found(module_id: str) -> _ApiError:
    return _ApiError(404, "resource_not_found", f'storage_not_found_error: policy id "{module_id}"')


def _ref(segments: list[str]) -> str:
    """``data["a"]["b"]``: bracket form, so that any path segment is a valid ref."""
    return "data" + "".join(f"[{json.dumps(s)}]" for s in segments)


class OpaTestServer:
    """A running OPA REST API test server on 127.0.0.1 (see the module docstring)."""

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
        modules = dict(policy_set.modules) if policy_set is not None else {}
        data = json.loads(json.dumps(policy_set.data)) if policy_set is not None else {}
        # A broken set fails here, loudly, as `opa run --server policies/` would.
        self._state = _State(modules, data, golib.compile_modules(modules, data))

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
            raise RuntimeError("the OPA test server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        server = self

        class Handler(_Handler):
            pass

        Handler.opa = server
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits for the serve loop
            name="opa-test-server",
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
        for thread in [*connections.values(), self._thread]:
            if thread is not None:
                thread.join(timeout=5)

    def __enter__(self) -> OpaTestServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ state (under lock)

    def _put_policy(self, module_id: str, source: str) -> None:
        with self._lock:
            s = self._state
            if s.modules.get(module_id) == source:
                return  # OPA answers an upload of the stored bytes at once
            # Parse the new module alone first, as OPA's server does: its parse errors
            # are reported even when a stored module would fail to compile too.
            _parse_alone(module_id, source)
            modules = {**s.modules, module_id: source}
            self._state = _State(modules, s.data, _compile(modules, s.data, "invalid_parameter"))

    def _delete_policy(self, module_id: str) -> None:
        with self._lock:
            s = self._state
            if module_id not in s.modules:
                raise _not_found(module_id)
            modules = {k: v for k, v in s.modules.items() if k != module_id}
            self._state = _State(modules, s.data, _compile(modules, s.data, "invalid_operation"))

    def _put_data(self, segments: list[str], value: Any, if_none_match: bool) -> int:
        with self._lock:
            s = self._state
            if not segments:
                if not isinstance(value, dict):
                    raise _ApiError(400, "invalid_parameter", "root document must be an object")
                self._state = _State(s.modules, value, _compile_data(s.modules, value))
                return 204
            data = json.loads(json.dumps(s.data))
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
            self._state = _State(s.modules, data, _compile_data(s.modules, data))
            return 204

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self, segments: list[str], input_doc: Any, has_input: bool) -> tuple[bool, Any]:
        """(defined, value) of ``data.<segments>``, evaluated by OPA."""
        opa = golib._bindings()
        with self._lock:
            compiled = self._state.compiled
        try:
            rows = compiled.eval_query(f"x = {_ref(segments)}", input_doc if has_input else None)
        except opa.OpaError as exc:
            errors = golib.opa_errors(exc.message, self.modules)
            raise _ApiError(500, "internal_error", MSG_EVALUATION_ERROR, errors) from exc
        return (True, rows[0]["x"]) if rows else (False, None)

    def _provenance(self) -> dict[str, Any]:
        provenance: dict[str, Any] = {"version": SERVER_VERSION}
        if self.revision:
            provenance["bundles"] = {self.bundle_name: {"revision": self.revision}}
        return provenance


def _parse_alone(module_id: str, source: str) -> None:
    """OPA's parse of one module; its errors are OPA's 400 for the upload."""
    errors = golib.parse_errors({module_id: source})
    if errors:
        raise _ApiError(400, "invalid_parameter", MSG_COMPILE_MODULE_ERROR, errors)


def _compile_data(modules: dict[str, str], data: dict[str, Any]) -> Any:
    """OPA with the new data: data conflicting with a rule is OPA's 400 (as a string)."""
    try:
        return golib.compile_modules(modules, data)
    except golib.OpaRejected as exc:
        raise _ApiError(400, "invalid_parameter", str(exc)) from exc


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
    opa: OpaTestServer
    protocol_version = "HTTP/1.1"  # keep-alive, so a client's session reuses one thread
    server_version = "opa-test-server"

    disable_nagle_algorithm = True  # headers and body go out in two writes

    def setup(self) -> None:
        super().setup()
        with self.opa._lock:
            self.opa._connections[self.connection] = threading.current_thread()

    def finish(self) -> None:
        with self.opa._lock:
            self.opa._connections.pop(self.connection, None)
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
        opa = self.opa
        with opa._lock:
            opa.requests.append(
                RecordedRequest(
                    self.command,
                    split.path,
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
        if opa.delay and opa._stopping.wait(opa.delay):
            return  # stopping: drop the answer
        if opa.token is not None and (
            self.headers.get("Authorization") != f"Bearer {opa.token}"
        ):
            self._json(401, {"code": "unauthorized", "message": "missing or invalid token"})
            return
        forced = opa._forced
        if forced is not None:
            self._send(forced.status, forced.body, forced.content_type)
            return
        try:
            self._route(split.path, query, body)
        except _ApiError as exc:
            self._json(exc.status, exc.body)
        except Exception as exc:  # noqa: BLE001 - a bug here is a 500, not a hang
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
        opa = self.opa
        if not module_id:
            if method != "GET":
                raise _ApiError(405, "invalid_operation", "method not allowed")
            modules = opa.modules
            self._json(200, {"result": [{"id": i, "raw": modules[i]} for i in sorted(modules)]})
            return
        if method == "PUT":
            try:
                source = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _ApiError(400, "invalid_parameter", f"module is not UTF-8: {exc}") from exc
            opa._put_policy(module_id, source)
            self._json(200, {})
        elif method == "GET":
            modules = opa.modules
            if module_id not in modules:
                raise _not_found(module_id)
            self._json(200, {"result": {"id": module_id, "raw": modules[module_id]}})
        elif method == "DELETE":
            opa._delete_policy(module_id)
            self._json(200, {})
        else:
            raise _ApiError(405, "invalid_operation", "method not allowed")

    def _data(
        self, method: str, segments: list[str], query: dict[str, list[str]], body: bytes
    ) -> None:
        opa = self.opa
        if method == "PUT":
            try:
                value = json.loads(body or b"null")
            except ValueError as exc:
                raise _ApiError(
                    400, "invalid_parameter", f"body contains malformed JSON: {exc}"
                ) from exc
            status = opa._put_data(
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
        if "/".join(segments) in opa._undefined:
            defined, value = False, None
        else:
            defined, value = opa._evaluate(segments, input_doc, has_input)
        if defined:
            answer["result"] = value
        if opa.decision_ids:
            answer["decision_id"] = str(uuid.uuid4())
        if _true(query, "provenance"):
            answer["provenance"] = opa._provenance()
        self._json(200, answer)
