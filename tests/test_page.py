"""The release managers' page (``--app-name mlgate``) in headless Chromium.

The page is loaded in a real browser (Debian's ``chromium``, installed by ``.ci/run``) from
a real ``mlflow server`` with the registry plugin; the DOM the browser built is checked.
A screenshot is kept in the test's temp dir. Hostile names and tag values try to run
script: they must come out as text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from mlflow.exceptions import RestException

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from fixtures_server import GatedServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TITLE = "mlgate decisions"
# The model name may not contain '/' or ':' (MLflow), so it carries an onerror handler;
# the tag value carries a plain script element. Both would retitle the page if they ran.
HOSTILE_NAME = "<img src=x onerror=\"document.title='pwned-by-name'\">"
HOSTILE_VALUE = "<script>document.title='pwned-by-tag'</script>"


# --------------------------------------------------------------------------- the browser


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def rendered_dom(url: str, tmp_path: Path) -> str:
    """The DOM after the browser loaded ``url`` and ran whatever it would run."""
    return chromium("--dump-dom", url, profile=tmp_path / "profile-dom").stdout


class Dom(HTMLParser):
    """Elements, the title, and each decision section's attributes and text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.title = ""
        self.sections: list[dict[str, Any]] = []
        self.links: list[str] = []
        self._in_title = False
        self._depth = 0  # <section> nesting, for collecting text
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "title":
            self._in_title = True
        if tag == "section" and "data-decision-id" in attributes:
            self.sections.append({**attributes, "text": ""})
            self._depth = 1
        elif tag == "section" and self._depth:
            self._depth += 1
        if tag == "a" and attributes.get("class") == "model":
            self.links.append(attributes.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag == "section" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._depth:
            self.sections[-1]["text"] += data

    def for_model(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.sections if f"{name} version" in " ".join(s["text"].split())]


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read().decode()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(sqlite_server: GatedServer) -> GatedServer:
    return sqlite_server


@pytest.fixture(scope="module")
def scene(server: GatedServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A blocked promotion of a hostile model name and tag, and an allowed one."""
    reg: RegistryHelper = server.helper(tmp_path_factory.mktemp("page"))
    hostile = reg.unique(HOSTILE_NAME)
    mv = reg.create_version(
        hostile, {"compliance.audience": HOSTILE_VALUE, "compliance.regions": "CN"}, source="run"
    )
    with pytest.raises(RestException):
        reg.client.set_registered_model_alias(hostile, "production", mv.version)
    fine = reg.unique("fine")
    good = reg.create_version(fine, compliant_tags(), manifest=example_manifest())
    reg.client.set_registered_model_alias(fine, "production", good.version)
    return {"hostile": hostile, "fine": fine}


# --------------------------------------------------------------------------- tests


def test_blocked_promotion_and_reason_render_inert(
    server: GatedServer, scene: dict[str, str], tmp_path: Path
) -> None:
    url = f"{server.url}/mlgate/?view=history&limit=500"  # others share the server's log
    dom = Dom(rendered_dom(url, tmp_path))
    chromium(
        "--screenshot=" + str(tmp_path / "page.png"), "--window-size=1280,900", url,
        profile=tmp_path / "profile-shot",
    )

    assert dom.title == TITLE  # neither payload ran
    assert "script" not in dom.tags and "img" not in dom.tags  # both stayed text
    [blocked] = dom.for_model(scene["hostile"])
    assert blocked["data-outcome"] == "blocked"
    text = " ".join(blocked["text"].split())
    assert f"{scene['hostile']} version 1" in text
    assert "scope.audience_invalid" in text
    assert f"The tag compliance.audience is '{HOSTILE_VALUE}'" in text
    assert "production" in text and "anonymous" in text
    assert "Fix:" in text
    # Blocked promotions come first.
    outcomes = [s["data-outcome"] for s in dom.sections]
    assert outcomes == sorted(outcomes, key=lambda o: o != "blocked")
    assert f"/#/models/{quote(scene['hostile'], safe='')}/versions/1" in dom.links
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("outcome", ["blocked", "allowed"])
def test_outcome_filter(server: GatedServer, scene: dict[str, str], outcome: str) -> None:
    query = urlencode({"view": "history", "outcome": outcome, "limit": 500})
    status, content_type, html = get(f"{server.url}/mlgate/?{query}")
    dom = Dom(html)

    assert status == 200 and content_type.startswith("text/html")
    assert dom.sections
    assert {s["data-outcome"] for s in dom.sections} == {outcome}
    wanted, unwanted = (
        ("hostile", "fine") if outcome == "blocked" else ("fine", "hostile")
    )
    assert dom.for_model(scene[wanted]) and not dom.for_model(scene[unwanted])


def test_model_filter(server: GatedServer, scene: dict[str, str]) -> None:
    query = urlencode({"model": scene["hostile"], "view": "history"})
    _, _, html = get(f"{server.url}/mlgate/?{query}")
    dom = Dom(html)

    assert len(dom.sections) == 1
    assert dom.for_model(scene["hostile"])


def test_bad_filter_is_a_400(server: GatedServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        get(f"{server.url}/mlgate/?outcome=maybe")
    assert info.value.code == 400


def test_api_returns_the_decisions_as_json(server: GatedServer, scene: dict[str, str]) -> None:
    query = urlencode({"model": scene["hostile"]})
    status, content_type, body = get(f"{server.url}/mlgate/api/decisions?{query}")
    document = json.loads(body)

    assert status == 200 and content_type.startswith("application/json")
    [decision] = document["decisions"]
    assert decision["model"] == scene["hostile"]  # JSON carries the raw value
    assert decision["allowed"] is False
    assert "scope.audience_invalid" in decision["failing_codes"]
    assert decision["decision"]["decision_id"] == decision["decision_id"]
    assert decision["ui_url"] == f"/#/models/{quote(scene['hostile'], safe='')}/versions/1"


def test_mlflow_endpoints_still_work(server: GatedServer, scene: dict[str, str]) -> None:
    assert get(f"{server.url}/health")[::2] == (200, "OK")
    status, _, body = get(f"{server.url}/api/2.0/mlflow/registered-models/search")
    names = {m["name"] for m in json.loads(body)["registered_models"]}
    assert status == 200 and scene["fine"] in names
    status, content_type, _ = get(f"{server.url}/")
    assert status == 200 and content_type.startswith("text/html")


# --------------------------------------------------------------------------- current state


class StateDom(HTMLParser):
    """The current view's sections (one per model and target) and their history items."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.states: list[dict[str, Any]] = []
        self.history_links: list[str] = []
        self._item: dict[str, Any] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section" and "data-state" in attributes:
            self.states.append({**attributes, "groups": []})
        if tag == "li" and "data-count" in attributes and self.states:
            self._item = {**attributes, "text": ""}
            self.states[-1]["groups"].append(self._item)
        if tag == "a" and attributes.get("id") == "history-link":
            self.history_links.append(attributes.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._item = None

    def handle_data(self, data: str) -> None:
        if self._item is not None:
            self._item["text"] += data


def test_current_state_after_block_fix_allow(
    server: GatedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three refused retries of a pending filing without a number, then the fix and an
    allowed promotion: the page opens with the model allowed now, 4 attempts, the three
    blocks grouped and marked superseded; ``mlgate log --current`` says the same."""
    from helpers import mlgate

    reg: RegistryHelper = server.helper(tmp_path)
    name = reg.unique("fixed")
    pending = compliant_tags(**{"filing.status": "pending"})
    del pending["compliance.filing.id"]
    mv = reg.create_version(name, pending, manifest=example_manifest())
    for _ in range(3):
        with pytest.raises(RestException) as info:
            reg.client.set_registered_model_alias(name, "production", mv.version)
        # Every violation at once: both filing codes in one refusal.
        assert "filing.not_completed" in info.value.message
        assert "filing.id_missing" in info.value.message
    reg.client.set_model_version_tag(name, mv.version, "compliance.filing.status", "completed")
    reg.client.set_model_version_tag(name, mv.version, "compliance.filing.id", "BJ-2026-7")
    reg.client.set_registered_model_alias(name, "production", mv.version)

    url = f"{server.url}/mlgate/?" + urlencode({"model": name})
    dom = StateDom(rendered_dom(url, tmp_path))

    [state] = dom.states
    assert (state["data-state"], state["data-attempts"]) == ("allowed", "4")
    allowed, blocked = state["groups"]
    assert (allowed["data-outcome"], allowed["data-count"]) == ("allowed", "1")
    assert (blocked["data-outcome"], blocked["data-count"]) == ("blocked", "3")
    assert "data-superseded-by" in blocked and "superseded by" in blocked["text"]
    assert "filing.id_missing, filing.not_completed" in blocked["text"]
    assert dom.history_links and "view=history" in dom.history_links[0]
    history = Dom(get(f"{server.url}{dom.history_links[0].replace('&amp;', '&')}")[2])
    assert len(history.for_model(name)) == 4  # the full history, one click away

    monkeypatch.delenv("MLGATE_DECISION_LOG", raising=False)
    run = mlgate("log", "--current", "--model", name, "--tracking-uri", server.url,
                 "--format", "json")
    assert run.exit_code == 0, run.stderr
    [document] = run.json()
    assert (document["state"], document["attempts"]) == ("allowed", 4)
    assert [(g["outcome"], g["count"]) for g in document["groups"]] == [
        ("allowed", 1), ("blocked", 3)
    ]
    assert document["groups"][1]["superseded_by"]["version"] == mv.version
    text = mlgate("log", "--current", "--model", name, "--tracking-uri", server.url).stdout
    assert f"ALLOWED NOW  {name} -> production  (4 attempts;" in text
    assert "3 x blocked v1 [filing.id_missing, filing.not_completed]" in text
    assert "superseded by allowed v1" in text
