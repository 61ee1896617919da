"""The test session's network guard, the stand-in's strictness, and the pinned kagglesdk."""

from __future__ import annotations

import importlib.metadata
import socket
import sys
import tomllib
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import network_guard as conftest  # noqa: E402
from kaggle_fixtures import REPO, SECRET, SLUG  # noqa: E402
from kaggle_stub import DENIED_403, PAGE, KaggleStub  # noqa: E402


def test_guard_refuses_non_loopback_and_allows_loopback() -> None:
    with socket.socket() as s, pytest.raises(conftest.NetworkGuardError):
        s.connect(("192.0.2.1", 443))  # TEST-NET-1: never reached
    with socket.socket(socket.AF_INET6) as s, pytest.raises(conftest.NetworkGuardError):
        s.connect(("2001:db8::1", 443, 0, 0))
    assert conftest.blocked == ["192.0.2.1:443", "2001:db8::1:443"]
    conftest.blocked.clear()  # this test meant to; any other test doing so fails at teardown
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())  # loopback is allowed
    assert all(conftest.is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "localhost"))
    assert not any(conftest.is_loopback(h) for h in ("10.0.0.1", "api.kaggle.com", "0.0.0.0"))


def test_a_real_kaggle_endpoint_never_gets_the_key(stub: KaggleStub, monkeypatch) -> None:
    from kagglesdk import kaggle_env

    from pipeline.kaggle.auth import KaggleError
    from pipeline.kaggle.io import list_submissions

    monkeypatch.setitem(kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.PROD, "http://203.0.113.7")  # broken patch
    with pytest.raises(KaggleError, match="cannot reach Kaggle"):
        list_submissions(SLUG)
    assert conftest.blocked == ["203.0.113.7:80"]
    conftest.blocked.clear()
    assert SECRET  # the request carrying it never left the machine


def post(stub: KaggleStub, method: str, body: dict) -> requests.Response:
    return requests.post(
        f"{stub.url}/v1/competitions.CompetitionApiService/{method}",
        json=body,
        auth=(stub.username, stub.key),
        timeout=5,
    )


def test_stub_pages_by_50_ignoring_page_size_and_answers_like_the_server(stub: KaggleStub) -> None:
    stub.add_submissions(SLUG, 60)
    first = post(stub, "ListSubmissions", {"competitionName": SLUG, "pageSize": 100}).json()
    assert len(first["submissions"]) == PAGE and first["nextPageToken"]
    second = post(stub, "ListSubmissions", {"competitionName": SLUG, "pageToken": first["nextPageToken"]}).json()
    assert len(second["submissions"]) == 10 and "nextPageToken" not in second
    denied = post(stub, "GetSubmissionLimits", {"competitionName": "nope"})
    assert denied.status_code == 403 and denied.json()["message"] == DENIED_403
    stub.competitions[SLUG].on_team = False
    assert post(stub, "GetSubmissionLimits", {"competitionName": SLUG}).json() == {}
    stub.rate_limited["ListSubmissions"] = 1
    limited = post(stub, "ListSubmissions", {"competitionName": SLUG})
    assert limited.status_code == 429 and limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "code" not in limited.json()  # nested: kagglesdk's own check of a top-level "code" does not see it


def test_stub_scores_after_pending_polls(stub: KaggleStub) -> None:
    comp = stub.competitions[SLUG]
    comp.outcome, comp.pending_polls = {"status": "COMPLETE", "publicScore": "0.9"}, 2
    comp.submissions.insert(0, {"ref": 7, "date": "2025-01-01T00:00:00.0Z", "status": "PENDING", "_polls": 2})
    seen = [
        post(stub, "ListSubmissions", {"competitionName": SLUG}).json()["submissions"][0].get("status", "PENDING")
        for _ in range(4)
    ]
    assert seen == ["PENDING", "PENDING", "COMPLETE", "COMPLETE"]


def test_kagglesdk_is_pinned_to_the_installed_version() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"kagglesdk=={importlib.metadata.version('kagglesdk')}" in deps
    assert f"kaggle=={importlib.metadata.version('kaggle')}" in deps
