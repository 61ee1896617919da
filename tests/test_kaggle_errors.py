"""Kaggle answers classified by HTTP status and structured error; credentials checked before anything is sent."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kaggle_fixtures import EXPECTED, SECRET, SLUG, TOKEN, download_without_credentials  # noqa: E402
from kaggle_stub import JOIN_400, LIMIT_400, QUOTA_429, KaggleStub  # noqa: E402

from pipeline.kaggle.auth import KaggleError, find_credentials, no_credentials_message  # noqa: E402
from pipeline.kaggle.errors import translate  # noqa: E402
from pipeline.kaggle.io import _pages, download_competition  # noqa: E402


def http_error(status: int, body: object, headers: dict[str, str] | None = None) -> requests.HTTPError:
    """What kagglesdk raises for an error answer: an HTTPError carrying the response."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    response.headers.update(headers or {})
    return requests.HTTPError(f"{status} error", response=response)


def said(e: requests.HTTPError, submitting: bool = False) -> str:
    err = translate(e, SLUG, "do it", submitting=submitting)
    assert isinstance(err, KaggleError)
    return str(err)


# ---------- classification (defect 2) ----------


def test_nested_429_is_rate_limiting_with_when_to_retry() -> None:
    nested = {"error": {"code": 429, "message": QUOTA_429, "status": "RESOURCE_EXHAUSTED"}}
    msg = said(http_error(429, nested, {"Retry-After": "42"}), submitting=True)
    assert "rate limiting" in msg and "RESOURCE_EXHAUSTED" in msg and "retry in 42 s" in msg.lower()
    assert "Submission limit" not in msg  # "Quota exceeded" is not the daily submission limit
    assert "wait a few minutes" in said(http_error(429, nested)).lower()  # no Retry-After header


def test_400_size_exceeded_is_not_the_submission_limit() -> None:
    msg = said(http_error(400, {"code": 400, "message": "File size exceeded the maximum of 100 MB."}), True)
    assert "Submission limit" not in msg and "refused the request (400" in msg and "size exceeded" in msg


def test_daily_limit_wording_counts_only_on_a_refused_submission() -> None:
    body = {"code": 400, "message": LIMIT_400.format(n=5)}
    assert "Submission limit reached" in said(http_error(400, body), submitting=True)
    assert "Submission limit reached" not in said(http_error(400, body), submitting=False)  # e.g. `download`
    assert ".." not in said(http_error(400, body), submitting=True)  # Kaggle's sentence ends in its own period


def test_rules_not_accepted_on_400_as_on_403() -> None:
    for status in (400, 403):
        msg = said(http_error(status, {"code": status, "message": JOIN_400}), submitting=True)
        assert f"https://www.kaggle.com/competitions/{SLUG}/rules" in msg and "accept" in msg


def test_permission_denied_says_the_slug_may_be_wrong() -> None:
    msg = said(http_error(403, {"code": 403, "message": "Permission 'competitions.get' was denied"}))
    assert "slug may be wrong" in msg and "private" in msg


def test_not_kaggles_error_is_left_alone() -> None:
    assert translate(ValueError("x"), SLUG, "do it") is None


# ---------- paging (defect 3) ----------


class FakeService:
    """list_submissions answering from a list of (submissions, next_page_token) pages."""

    def __init__(self, pages: list[tuple[list[int], str]]) -> None:
        self.pages, self.requests = pages, []

    def list_submissions(self, request: object) -> SimpleNamespace:
        self.requests.append(request)
        refs, token = self.pages[len(self.requests) - 1]
        return SimpleNamespace(submissions=[SimpleNamespace(ref=r) for r in refs], next_page_token=token)


class FakeApi:
    def __init__(self, service: FakeService) -> None:
        self.service = service

    def build_kaggle_client(self) -> FakeApi:
        return self

    def __enter__(self) -> SimpleNamespace:
        return SimpleNamespace(competitions=SimpleNamespace(competition_api_client=self.service))

    def __exit__(self, *exc: object) -> None:
        pass


def test_paging_follows_tokens_and_stops_on_empty_token_empty_page_or_a_loop() -> None:
    def refs(pages: list[tuple[list[int], str]]) -> tuple[list[int], int]:
        service = FakeService(pages)
        got = [s.ref for page in _pages(FakeApi(service), SLUG, None) for s in page]
        return got, len(service.requests)

    assert refs([([1, 2], "a"), ([3], "b"), ([4], "")]) == ([1, 2, 3, 4], 3)  # a short page is not the end
    assert refs([([1], "a"), ([], "b")]) == ([1], 2)  # an empty page ends it
    assert refs([([1], "a"), ([2], "a"), ([9], "")]) == ([1, 2], 2)  # a token seen before ends it
    service = FakeService([([1], "tok"), ([2], "")])
    list(_pages(FakeApi(service), SLUG, None))
    assert [r.page_token for r in service.requests] == ["", "tok"] and service.requests[
        1
    ]._page is None  # no page number


# ---------- credentials (defect 5) ----------


def test_no_credentials_message_leads_with_api_tokens(stub: KaggleStub, monkeypatch) -> None:
    msg = download_without_credentials(monkeypatch)
    assert msg == no_credentials_message(f"download '{SLUG}'")
    first_token = min(msg.index("KAGGLE_API_TOKEN to it"), msg.index("kaggle auth login\n"))
    assert first_token < msg.index("kaggle.json of") and "Legacy" in msg
    assert stub.requests == []


@pytest.mark.parametrize("where", ["env", "file"])
def test_new_style_token_pasted_as_the_legacy_key(stub: KaggleStub, monkeypatch, where: str) -> None:
    if where == "env":
        monkeypatch.setenv("KAGGLE_KEY", TOKEN)
    else:
        monkeypatch.delenv("KAGGLE_USERNAME")
        monkeypatch.delenv("KAGGLE_KEY")
        cfg = Path.home() / ".kaggle" / "kaggle.json"
        cfg.write_text(json.dumps({"username": "stub-user", "key": TOKEN}))
        cfg.chmod(0o600)
    with pytest.raises(KaggleError) as e:
        download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    msg = str(e.value)
    assert "new-style API token" in msg and "KAGGLE_API_TOKEN" in msg and "~/.kaggle/access_token" in msg
    assert ("KAGGLE_KEY" in msg) if where == "env" else ('("key")' in msg)
    assert TOKEN not in msg and stub.requests == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"username": "stub-user", "key": "' + SECRET + '"', "not valid JSON"),
        ('["stub-user", "' + SECRET + '"]', "not a JSON object"),
        ('{"username": "stub-user", "token": "' + SECRET + '"}', 'no "key"'),
        ("", "is empty"),
    ],
)
def test_malformed_kaggle_json_is_named_without_its_content(
    stub: KaggleStub, monkeypatch, content: str, problem: str
) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    cfg = Path.home() / ".kaggle" / "kaggle.json"
    cfg.write_text(content)
    cfg.chmod(0o600)
    with pytest.raises(KaggleError) as e:
        find_credentials()
    msg = str(e.value)
    assert f"{cfg} is malformed" in msg and problem in msg and SECRET not in msg
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)  # a token comes first: the broken file is not in the way
    assert find_credentials().kind == "token"


def test_connect_reuses_the_client_that_import_kaggle_authenticated(stub: KaggleStub, monkeypatch) -> None:
    import kaggle

    from pipeline.kaggle.io import connect

    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    # what `import kaggle` does in a fresh process (the stub fixture cleared the client an earlier test left behind)
    monkeypatch.setattr(kaggle, "api", kaggle.KaggleApi())
    kaggle.api.authenticate()
    assert len(stub.calls("IntrospectToken")) == 1
    creds = find_credentials()
    assert connect(creds) is kaggle.api and len(stub.calls("IntrospectToken")) == 1
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN + "-other")  # other credentials: a fresh sign-in, refused
    stub.token = TOKEN + "-other"
    assert connect(find_credentials()) is not kaggle.api and len(stub.calls("IntrospectToken")) == 2
