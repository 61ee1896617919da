"""A stand-in Kaggle API server on 127.0.0.1 for tests: the competition endpoints the kaggle 2.2 client calls.

Protocol as the kaggle client (kagglesdk) speaks it: JSON POSTs to /v1/<service>/<Method> with Basic (username,
key) or Bearer (access token) auth; errors are JSON {"code", "message"}; data downloads answer 302 to a blob URL
that the client GETs (exact Content-Length, ranges, ETag); uploads PUT the raw bytes to the `createUrl` that
StartSubmissionUpload returns. Bounded: per-request socket timeout, body size cap, request cap, daemon thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

API = "/v1/"
MAX_BODY = 16 * 1024 * 1024
MAX_REQUESTS = 500
RULES_403 = "You must accept this competition's rules before you'll be able to download files."
LIMIT_400 = (
    "Submission not allowed:  Your team has used its daily Submission allowance ({n}) today, please try "
    "again tomorrow UTC."
)


@dataclass
class Competition:
    """One competition as the stub knows it."""

    zip_bytes: bytes = b""
    rules_accepted: bool = True
    daily_limit: int = 5
    title: str = "Stub Competition"
    submissions: list[dict[str, Any]] = field(default_factory=list)


class KaggleStub:
    """The server and its state; tests configure `competitions` and failure switches, then read `requests`."""

    def __init__(self, username: str = "stub-user", key: str = "stub-key-0000", token: str | None = None) -> None:
        self.username, self.key, self.token = username, key, token
        self.competitions: dict[str, Competition] = {}
        self.requests: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}
        self.upload_names: dict[str, str] = {}
        self.put_status = 200  # answer to upload PUTs; e.g. 403 makes the client's upload fail
        self.truncate_blobs = 0  # how many blob answers to cut in half (-1: all)
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> KaggleStub:
        """Listen on a free port of 127.0.0.1 in a daemon thread."""
        handler = type("Handler", (_Handler,), {"stub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> KaggleStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, part: str) -> list[dict[str, Any]]:
        """Recorded requests with `part` in their path: an API method name, 'blobs' or 'upload'."""
        return [r for r in self.requests if part in urlsplit(r["path"]).path.split("/")]

    def score(self, ref: int, public: float | None, private: float | None = None, status: str = "COMPLETE") -> None:
        """Simulate Kaggle scoring a submission."""
        for comp in self.competitions.values():
            for s in comp.submissions:
                if s["ref"] == ref:
                    s.update(
                        status=status,
                        publicScore="" if public is None else str(public),
                        privateScore="" if private is None else str(private),
                    )


class _Handler(BaseHTTPRequestHandler):
    stub: KaggleStub
    timeout = 10
    protocol_version = "HTTP/1.0"

    def log_message(self, *args: Any) -> None:
        pass

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
                if len(out) > MAX_BODY:
                    return None
        length = int(self.headers.get("Content-Length") or 0)
        return None if length > MAX_BODY else self.rfile.read(length)

    def _record(self, body: bytes) -> bool:
        with self.stub.lock:
            self.stub.requests.append(
                {"method": self.command, "path": self.path, "body": body, "headers": dict(self.headers.items())}
            )
            return len(self.stub.requests) <= MAX_REQUESTS

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"code": status, "message": message})

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        basic = base64.b64encode(f"{self.stub.username}:{self.stub.key}".encode()).decode()
        return auth == f"Basic {basic}" or bool(self.stub.token and auth == f"Bearer {self.stub.token}")

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self._body()
        if body is None:
            return self._error(413, "request too large")
        if not self._record(body):
            return self._error(503, "stub request cap reached")
        path = urlsplit(self.path).path
        if not path.startswith(API) or path.count("/") != 3:
            return self._error(404, "Not found")
        _, _, service, method = path.split("/")
        req = json.loads(body or b"{}")
        if (service, method) == ("security.OAuthService", "IntrospectToken"):
            active = bool(self.stub.token) and req.get("token") == self.stub.token
            return self._json(200, {"active": active, "username": self.stub.username if active else ""})
        if not self._authorized():
            return self._error(401, "Unauthenticated")
        if service != "competitions.CompetitionApiService":
            return self._error(404, f"No method {service}/{method}")
        slug = req.get("competitionName", "")
        comp = self.stub.competitions.get(slug)
        if comp is None:
            return self._error(404, "Competition not found")
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(404, f"No method {method}")
        return handler(slug, comp, req)

    def _api_ListDataFiles(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        self._json(200, {"files": [{"ref": f"{slug}.zip", "name": f"{slug}.zip", "totalBytes": len(comp.zip_bytes)}]})

    def _api_DownloadDataFiles(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        if not comp.rules_accepted:
            return self._error(403, RULES_403)
        self.send_response(302)
        self.send_header("Location", f"{self.stub.url}/blobs/{slug}.zip?X-Goog-Signature=stubsig")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _api_GetSubmissionLimits(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        today = _today_count(comp)
        self._json(
            200,
            {
                "numToday": today,
                "numTotal": len(comp.submissions),
                "numAllowedNow": max(comp.daily_limit - today, 0),
                "limitedByTotal": False,
            },
        )

    def _api_StartSubmissionUpload(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        if not comp.rules_accepted:
            return self._error(403, "You must accept this competition's rules before you can submit.")
        with self.stub.lock:
            token = f"blob-{len(self.stub.uploads) + len(self.stub.requests)}"
            self.stub.uploads.setdefault(token, b"")
            self.stub.upload_names[token] = req.get("fileName", "")
        self._json(200, {"token": token, "createUrl": f"{self.stub.url}/upload/{token}"})

    def _api_CreateSubmission(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        token = req.get("blobFileTokens", "")
        if not self.stub.uploads.get(token):
            return self._error(400, "The submission file was not uploaded.")
        if _today_count(comp) >= comp.daily_limit:
            return self._error(400, LIMIT_400.format(n=comp.daily_limit))
        ref = 1000 + sum(len(c.submissions) for c in self.stub.competitions.values())
        comp.submissions.insert(
            0,
            {
                "ref": ref,
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "description": req.get("submissionDescription", ""),
                "fileName": self.stub.upload_names.get(token, ""),
                "status": "PENDING",
                "publicScore": "",
                "privateScore": "",
                "submittedBy": self.stub.username,
                "totalBytes": len(self.stub.uploads[token]),
                "_token": token,
            },
        )
        self._json(200, {"message": f"Successfully submitted to {comp.title}", "ref": ref})

    def _api_ListSubmissions(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        size, page = int(req.get("pageSize") or 20), int(req.get("page") or 1)
        chunk = comp.submissions[(page - 1) * size : page * size]
        subs = [{k: v for k, v in s.items() if not k.startswith("_")} for s in chunk]
        self._json(200, {"submissions": subs, "nextPageToken": ""})

    def do_GET(self) -> None:  # noqa: N802
        self._record(b"")
        path = urlsplit(self.path).path
        name = path.rsplit("/", 1)[-1]
        comp = self.stub.competitions.get(name.removesuffix(".zip"))
        if not path.startswith("/blobs/") or comp is None:
            return self._error(404, "No such blob")
        data, start = comp.zip_bytes, 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng[6:].rstrip("-").isdigit():
            start = int(rng[6:].rstrip("-"))
        if start >= len(data) > 0:
            return self._error(416, "Range not satisfiable")
        part = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", '"stub-v1"')
        self.send_header("Last-Modified", formatdate(1577836800, usegmt=True))  # 2020-01-01: older than any copy
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        with self.stub.lock:
            cut = self.stub.truncate_blobs != 0
            if self.stub.truncate_blobs > 0:
                self.stub.truncate_blobs -= 1
        self.wfile.write(part[: len(part) // 2] if cut else part)
        self.close_connection = True

    def do_PUT(self) -> None:  # noqa: N802
        body = self._body()
        if body is None:
            return self._error(413, "request too large")
        self._record(body)
        token = urlsplit(self.path).path.rsplit("/", 1)[-1]
        if not urlsplit(self.path).path.startswith("/upload/") or token not in self.stub.uploads:
            return self._error(404, "No such upload")
        if self.stub.put_status not in (200, 201):
            return self._error(self.stub.put_status, "upload rejected")
        with self.stub.lock:
            self.stub.uploads[token] = body
        self._json(200, {})


def _today_count(comp: Competition) -> int:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    return sum(1 for s in comp.submissions if s["date"].startswith(today))


SITECUSTOMIZE = '''"""Test-only: send the kaggle client's production calls to the stub (KAGGLE_STUB_URL)."""
import os

if os.environ.get("KAGGLE_STUB_URL"):
    from kagglesdk import kaggle_env

    kaggle_env._env_to_endpoint[kaggle_env.KaggleEnv.PROD] = os.environ["KAGGLE_STUB_URL"]
'''


def subprocess_env(stub: KaggleStub, folder: Any, base: dict[str, str]) -> dict[str, str]:
    """Environment for running the CLI in a subprocess against the stub (a sitecustomize in `folder` redirects it)."""
    from pathlib import Path

    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(base)
    env["PYTHONPATH"] = str(folder) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["KAGGLE_STUB_URL"] = stub.url
    return env
