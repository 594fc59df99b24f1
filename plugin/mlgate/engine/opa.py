"""The ``opa`` engine: an Open Policy Agent server over its REST API (v1).

The gate asks OPA's Data API for the decision document at the fixed path
(``POST /v1/data/mlgate/main/decision`` with ``{"input": ...}``) through
``opa-python-client``. Everything that is not a defined result is an
:class:`EngineError` naming the URL: connection refused, timeout, any non-2xx
answer (with OPA's error ``code`` and ``message``), a body that is not JSON, and
an undefined document (a 200 answer without a ``result`` key). Nothing here
returns a value on failure, so nothing can be read as an allow.

Requests are never retried, and ``timeout`` bounds the connect and every wait for
bytes from the server (requests' timeout semantics; a server that answers at all
answers in one small body). A retried POST would also log the same decision twice
on the OPA side.

The policy revision is the bundle revision OPA reports through the Data API's
documented ``provenance=true`` parameter (``provenance.bundles.<name>.revision``,
or the deprecated single ``provenance.revision``). It is taken from the very
answer that carried the decision, so the revision names the bundle that decided;
``/health`` reports no revision and ``/v1/status`` needs the status plugin. A
server fed with ``mlgate policy push`` has no bundle and reports ``""``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ..errors import EngineError, InputError, PolicyError, one_line
from ..policy import PolicySet
from ..regosource import parse_modules, render_ref
from .base import DECISION_PATH, DECISION_RULE

if TYPE_CHECKING:
    from ..models import EngineName

API_VERSION = "v1"
DEFAULT_PORTS = {"http": 80, "https": 443}
REVISION_PROBE_PATH = "mlgate/config"
"""A base document (policy data, no rule evaluation) read when a revision is asked for
before any decision: provenance comes back with any Data API answer, defined or not."""


@dataclass(frozen=True)
class OpaUrl:
    """An OPA server URL split the way ``opa-python-client`` wants it, plus a path prefix."""

    scheme: str
    host: str  # as the client writes it into URLs: IPv6 literals keep their brackets
    port: int
    prefix: str  # "" or "/some/prefix" (OPA behind a reverse proxy)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.prefix}"

    @property
    def api_root(self) -> str:
        return f"{self.base}/{API_VERSION}"


def parse_opa_url(url: str) -> OpaUrl:
    """Split ``http(s)://host[:port][/prefix]``; :class:`InputError` names a malformed URL."""

    def bad(why: str) -> InputError:
        return InputError(
            f"OPA URL {url!r} is not valid: {why}; expected http(s)://host[:port][/prefix]"
        )

    if not isinstance(url, str) or not url.strip():
        raise bad("it is empty")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise bad(f"scheme {parts.scheme or '(none)'!r} is not http or https")
    if not parts.hostname:
        raise bad("no host")
    if parts.username is not None or parts.password is not None:
        raise bad("credentials in the URL are not supported; give a bearer token instead")
    if parts.query or parts.fragment:
        raise bad("a query string or fragment is not allowed")
    prefix = parts.path.rstrip("/")
    if prefix.split("/")[-1] == API_VERSION:
        raise bad(f"give the server URL without the /{API_VERSION} API path")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return OpaUrl(scheme, host, port or DEFAULT_PORTS[scheme], prefix)


def revision_from_provenance(provenance: Any) -> str:
    """The bundle revision in a Data API ``provenance`` object; ``""`` when none.

    One bundle gives its revision; several give ``name=revision`` pairs, sorted.
    """
    if not isinstance(provenance, dict):
        return ""
    bundles = provenance.get("bundles")
    if isinstance(bundles, dict) and bundles:
        revisions: dict[str, str] = {
            str(name): info["revision"]
            for name, info in bundles.items()
            if isinstance(info, dict) and isinstance(info.get("revision"), str) and info["revision"]
        }
        if len(revisions) == 1:
            return next(iter(revisions.values()))
        return ",".join(f"{name}={rev}" for name, rev in sorted(revisions.items()))
    legacy = provenance.get("revision")  # deprecated: one unnamed bundle
    return legacy if isinstance(legacy, str) else ""


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _transport_reason(exc: Exception, timeout: float) -> str:
    """A short reason for a requests exception (they carry pool reprs and nested causes)."""
    import requests

    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within the {timeout:g}s timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {one_line(str(exc))}"
    found = _ERRNO.search(str(exc))
    if found:
        return f"connection failed: {found.group(1).strip().lower()}"
    return f"{type(exc).__name__}: {one_line(str(exc))}"


def _error_text(code: Any, message: Any, errors: Any) -> str:
    """OPA's documented error body as one line: ``code: message: file:row:col: detail``."""
    text = ": ".join(str(part) for part in (code, message) if part) or "no error message"
    details: list[str] = []
    for err in errors if isinstance(errors, list) else []:
        if not isinstance(err, dict):
            continue
        location = err.get("location")
        loc: dict[str, Any] = location if isinstance(location, dict) else {}
        where = ":".join(str(loc[k]) for k in ("file", "row", "col") if loc.get(k) is not None)
        what = ": ".join(str(err[k]) for k in ("code", "message") if err.get(k))
        details.append(f"{where}: {what}" if where else what)
    if details:
        text += ": " + "; ".join(details)
    return one_line(text)


def _http_error_text(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("code") or body.get("message")):
        detail = _error_text(body.get("code"), body.get("message"), body.get("errors"))
    else:
        detail = "no OPA error body"
    return f"HTTP {response.status_code} {detail}"


class OpaEngine:
    """Evaluates ``data.mlgate.main.decision`` on an OPA server; fails closed."""

    name: EngineName = "opa"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        verify: bool | str = True,
    ) -> None:
        from opa_client import OpaClient

        self.url = url.strip() if isinstance(url, str) else url
        self.location = parse_opa_url(url)
        if not timeout or timeout <= 0:
            raise InputError(f"OPA timeout must be a positive number of seconds, not {timeout!r}")
        self.timeout = float(timeout)
        # retries=0: the client's default retries connection errors and 500s with
        # backoff, which would stretch a failing call well past `timeout`.
        self._client = OpaClient(
            host=self.location.host,
            port=self.location.port,
            version=API_VERSION,
            ssl=self.location.scheme == "https",
            token=token,
            retries=0,
            timeout=self.timeout,
        )
        # The client builds every Data and Policy API URL on `root_url` but has no notion
        # of a path prefix (OPA behind a reverse proxy): give it the full API root.
        self._client.root_url = self.location.api_root
        # The client's `ssl` flag both picks https and sets verify=True; a CA bundle
        # path or verify=False go on its session directly.
        self._client._session.verify = verify
        self._local = threading.local()  # the revision of this thread's last decision

    # ------------------------------------------------------------------ helpers

    def _endpoint(self, path: str) -> str:
        return f"{self.location.api_root}/{path}" if path else self.location.api_root

    def _fail(self, method: str, path: str, what: str) -> EngineError:
        return EngineError(f"OPA {method} {self._endpoint(path)}: {what}")

    def close(self) -> None:
        self._client.close_connection()

    def __enter__(self) -> OpaEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ engine protocol

    def evaluate(self, gate_input: dict[str, Any], text: str | None = None) -> Any:
        """``POST /v1/data/mlgate/main/decision``; the ``result`` value or :class:`EngineError`."""
        import requests

        method, path = "POST", f"data/{DECISION_PATH}"
        self._local.revision = None
        try:
            body = self._client.query_rule(
                gate_input, DECISION_PATH, query_params={"provenance": "true"}
            )
        except requests.exceptions.HTTPError as exc:
            raise self._fail(method, path, _http_error_text(exc.response)) from exc
        except requests.exceptions.JSONDecodeError as exc:
            # query_rule only decodes 2xx bodies: a proxy page, an empty 204, ...
            raise self._fail(method, path, "the answer is not JSON") from exc
        except requests.exceptions.RequestException as exc:
            raise self._fail(method, path, _transport_reason(exc, self.timeout)) from exc
        if not isinstance(body, dict):
            raise self._fail(method, path, "the answer is not a JSON object")
        if "result" not in body:
            raise self._fail(
                method,
                path,
                f"{DECISION_RULE} is undefined (no result); are the mlgate policies loaded? "
                "(mlgate policy push, or a bundle)",
            )
        self._local.revision = revision_from_provenance(body.get("provenance"))
        return body["result"]

    def revision(self) -> str:
        """The bundle revision OPA reported with this thread's last decision.

        Before any decision, a Data API read of policy data with ``provenance=true``.
        ``""`` when the server reports no bundle revision (policies pushed over the API).
        """
        revision: str | None = getattr(self._local, "revision", None)
        if revision is not None:
            return revision
        return self._probe_revision()

    def _probe_revision(self) -> str:
        import requests

        method, path = "GET", f"data/{REVISION_PROBE_PATH}"
        # Not client.get_data: it raises on an undefined document and discards the
        # provenance that comes with it; the client's session keeps its auth and TLS.
        try:
            response = self._client._session.get(
                self._endpoint(path), params={"provenance": "true"}, timeout=self.timeout
            )
        except requests.exceptions.RequestException as exc:
            raise self._fail(method, path, _transport_reason(exc, self.timeout)) from exc
        if not response.ok:
            raise self._fail(method, path, _http_error_text(response))
        try:
            body = response.json()
        except ValueError as exc:
            raise self._fail(method, path, "the answer is not JSON") from exc
        return revision_from_provenance(body.get("provenance") if isinstance(body, dict) else None)

    # ------------------------------------------------------------------ policy push

    def push(self, policy_set: PolicySet) -> list[str]:
        """Upload every module (``PUT /v1/policies/<relpath>``) and the policy data.

        OPA compiles all stored modules plus the new one on every upload and refuses a
        module calling a function no stored module defines yet, so modules go up in
        dependency order (:func:`push_order`). A module refused for a compile error is
        tried again after the others, pass after pass, until a pass uploads nothing: that
        covers a dependency the order could not see; its last error is then reported.

        Data goes to ``PUT /v1/data/<key>`` for each top-level key of the data file, so
        data of other tenants of the server is left alone (a PUT to ``/v1/data`` would
        replace all of it). Returns the uploaded policy ids, in upload order.
        """
        uploaded: list[str] = []
        pending = push_order(policy_set.modules)
        while pending:
            refused: dict[str, EngineError] = {}
            for policy_id in pending:
                error = self._put_module(policy_set, policy_id)
                if error is None:
                    uploaded.append(policy_id)
                else:
                    refused[policy_id] = error
            if len(refused) == len(pending):
                raise next(iter(refused.values()))
            pending = list(refused)
        self._put_data(policy_set)
        return uploaded

    def _put_module(self, policy_set: PolicySet, policy_id: str) -> EngineError | None:
        """Upload one module; the error to report if OPA refused it for a compile error
        (another module may be missing); anything else raises at once."""
        import requests
        from opa_client.errors import RegoParseError, TypeException

        endpoint = quote(policy_id, safe="/")
        path = f"policies/{endpoint}"
        try:
            # rego_compat=False: the client would otherwise rewrite a rejected module
            # to another Rego syntax and retry; what we upload is what we tested.
            self._client.update_policy_from_string(
                policy_set.modules[policy_id], endpoint, rego_compat=False
            )
        except TypeException as exc:
            raise PolicyError(f"{policy_set.root}/{policy_id}: the module is empty") from exc
        except RegoParseError as exc:
            detail = _error_text(exc.expression, exc.message, exc.errors)
            error = self._fail("PUT", path, f"OPA rejected the module: {detail}")
            if _may_compile_later(exc.errors):
                return error
            raise error from exc
        except requests.exceptions.JSONDecodeError as exc:
            raise self._fail("PUT", path, "rejected, and the answer is not JSON") from exc
        except requests.exceptions.RequestException as exc:
            raise self._fail("PUT", path, _transport_reason(exc, self.timeout)) from exc
        return None

    def _put_data(self, policy_set: PolicySet) -> None:
        import requests
        from opa_client.errors import RegoParseError

        for key, value in sorted(policy_set.data.items()):
            endpoint = quote(key, safe="")
            path = f"data/{endpoint}"
            if not isinstance(value, dict):
                raise PolicyError(
                    f"{policy_set.root}/data.json: top-level key {key!r} must be an object "
                    "to be pushed to OPA"
                )
            try:
                self._client.update_or_create_data(value, endpoint)
            except RegoParseError as exc:  # the client's error for any rejected data write
                detail = _error_text(exc.expression, exc.message, exc.errors)
                raise self._fail("PUT", path, f"OPA rejected the data: {detail}") from exc
            except requests.exceptions.JSONDecodeError as exc:
                raise self._fail("PUT", path, "rejected, and the answer is not JSON") from exc
            except requests.exceptions.RequestException as exc:
                raise self._fail("PUT", path, _transport_reason(exc, self.timeout)) from exc


_LATER = {"rego_type_error", "rego_compile_error", "rego_recursion_error", "rego_unsafe_var_error"}


def _data_refs(node: Any) -> Iterator[str]:
    """Every ``data.<path>`` a node refers to, each as far as it is written with names or
    string indices (``data.a.b[x].c`` gives ``data.a.b``), read from regorus's AST:
    text in comments and strings is no reference."""
    if isinstance(node, dict):
        if {"Var", "RefDot", "RefBrack"} & node.keys():
            ref = render_ref(node)
            if ref is not None:
                if ref.startswith("data."):
                    yield ref
                return
        for value in node.values():
            yield from _data_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _data_refs(value)


def push_order(modules: dict[str, str]) -> list[str]:
    """Module ids in dependency order: a module after the modules whose packages it refers
    to (``data.<pkg>...`` in imports and rules, or a parent of ``<pkg>``), else by path.

    Read from regorus's AST (:mod:`mlgate.regosource`), like METADATA and the lint: a
    reference it cannot see (a rule of the same package in another file, a module regorus
    does not parse) is left to the upload passes of :meth:`OpaEngine.push`. In a cycle
    (main reads every gate, the gates read wellformed, which reads main's required_gates)
    the module missing the fewest others goes first, of those the one most others need (a
    reference to data not there yet compiles in OPA; a call to a function not there yet
    does not), then by path.
    """
    parsed, _ = parse_modules(modules)  # a parse error is OPA's to report, on upload
    packages = {mid: m.package for mid, m in parsed.items()}

    def refers(ref: str, package: str) -> bool:
        return ref == package or ref.startswith(package + ".") or package.startswith(ref + ".")

    needs: dict[str, set[str]] = {}
    for mid in modules:
        module = parsed.get(mid)
        written = set(module.imports.values()) | set(_data_refs(module.ast)) if module else set()
        refs = {r.removeprefix("data.") for r in written if r.startswith("data.")}
        needs[mid] = {
            other
            for other, package in packages.items()
            if package != packages.get(mid) and any(refers(r, package) for r in refs)
        }
    order: list[str] = []
    while len(order) < len(modules):
        placed = set(order)
        ready = sorted(m for m in modules if m not in placed and needs[m] <= placed)
        if not ready:  # a cycle: see the docstring
            rest = [m for m in modules if m not in placed]
            ready = sorted(
                rest,
                key=lambda m: (
                    len(needs[m] - placed),
                    -sum(1 for other in rest if m in needs[other]),
                    m,
                ),
            )
        order.extend(ready[:1])
    return order


def _may_compile_later(errors: Any) -> bool:
    """OPA refused a module for compile errors only (an undefined function, ...): it may
    compile once the modules it depends on are there. Parse errors never will."""
    if not isinstance(errors, list) or not errors:
        return False
    return all(isinstance(e, dict) and e.get("code") in _LATER for e in errors)


def push_policies(
    url: str, policy_set: PolicySet, *, token: str | None = None, timeout: float = 5.0
) -> list[str]:
    """Upload ``policy_set`` to the OPA server at ``url``; the uploaded policy ids."""
    with OpaEngine(url, token=token, timeout=timeout) as engine:
        return engine.push(policy_set)
