"""A stand-in Kaggle for tests: the API the kaggle 2.2 client calls, and a separate storage host, both on loopback.

As strict as the real service where it matters (read against kagglesdk and kaggle-api's issue tracker):
- JSON POSTs to /v1/<service>/<Method> with Basic (username, key) or Bearer (access token) auth; API errors are
  {"code", "message"}; the front end's rate limiting is a 429 with a nested {"error": {"code", "message",
  "status": "RESOURCE_EXHAUSTED"}} body.
- an unknown competition is 403 "Permission 'competitions.get' was denied" (not 404); downloading before
  accepting the rules is 403, submitting before joining is 400; the limits of a user not on a team are all zero
  (and, as protobuf JSON does, zero fields are left out); GetCompetition answers the competition with
  userHasEntered (left out, as false, before the rules are accepted).
- ListSubmissions answers 50 a page whatever pageSize asks, and pages by nextPageToken.
- datasets (datasets.DatasetApiService): DownloadDataset ({"ownerSlug", "datasetSlug"}) answers 302 to the
  dataset's zip on the storage host, as competition downloads do; a dataset the stub does not hold is 403
  "Permission 'datasets.get' was denied", as Kaggle answers for a wrong or private dataset.
- data downloads answer 302 to a blob URL on a different host:port (exact Content-Length, ranges, ETag);
  submissions PUT their bytes to an upload URL on that host. Any Authorization header reaching the storage host
  is refused and recorded in `violations` (the test fixture fails on it).
- a new submission is PENDING and turns into the competition's `outcome` (COMPLETE with scores, or ERROR with a
  message) after `pending_polls` listings.
- kernels (kernels.KernelsApiService): SaveKernel records the pushed request (metadata, notebook text) as a new
  version of <owner>/<slug> (only the signed-in user's own kernels; unknown dataset or competition sources come back
  in invalid*Sources); GetKernelSessionStatus answers the latest version's status, stepping through the push's
  KernelPlan one poll at a time (QUEUED, as protobuf's first enum value, is left out of the JSON); an unknown kernel
  is 403 "Permission 'kernels.get' was denied"; ListKernelSessionOutput lists the finished version's files with
  URLs on the storage host (paged by pageSize and nextPageToken) and its log, in Kaggle's JSON stream format.
Bounded: per-request socket timeout, body size cap, request cap, daemon threads; stalls end when stopped.
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
PAGE = 50  # ListSubmissions' page size on the real server, whatever pageSize says
MAX_BODY = 16 * 1024 * 1024
MAX_REQUESTS = 2000
RULES_403 = "You must accept this competition's rules before you'll be able to download files."
JOIN_400 = "You must join this competition and accept its rules before you can submit."
DENIED_403 = "Permission 'competitions.get' was denied"
DATASET_DENIED_403 = "Permission 'datasets.get' was denied"
QUOTA_429 = "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service 'kaggle.com'."
LIMIT_400 = (
    "Submission not allowed:  Your team has used its daily Submission allowance ({n}) today, please try "
    "again tomorrow UTC."
)


@dataclass
class Competition:
    """One competition as the stub knows it."""

    zip_bytes: bytes = b""
    rules_accepted: bool = True  # False: not joined, rules not accepted
    on_team: bool = True  # False: joined but no team yet (the first submission makes one)
    daily_limit: int = 5
    title: str = "Stub Competition"
    submissions: list[dict[str, Any]] = field(default_factory=list)
    pending_polls: int = 2  # listings a new submission stays PENDING for
    outcome: dict[str, Any] | None = None  # e.g. {"status": "COMPLETE", "publicScore": "0.5"}; None: never scored


@dataclass
class KernelPlan:
    """What the next pushed notebook version does: its statuses over successive polls, its output, its log."""

    statuses: list[str] = field(default_factory=lambda: ["QUEUED", "RUNNING", "COMPLETE"])  # the last one stays
    outputs: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes, served from the storage host
    log: str = ""  # Kaggle's log text (see kaggle_log)
    failure_message: str = ""  # GetKernelSessionStatus' failureMessage once the status is ERROR


def kaggle_log(*lines: str, stream: str = "stdout") -> str:
    """A kernel log as Kaggle serves it: a JSON array of {"stream_name", "time", "data"} entries."""
    entries = [{"stream_name": stream, "time": 0.5 * i, "data": line + "\n"} for i, line in enumerate(lines)]
    return "[" + "\n,".join(json.dumps(e) for e in entries) + "]"


KERNEL_DENIED_403 = "Permission 'kernels.get' was denied"
KERNEL_UPDATE_403 = "Permission 'kernels.update' was denied"
KERNEL_PAGE = 20  # ListKernelSessionOutput's page size when pageSize is not given


class KaggleStub:
    """The servers and their state; tests configure `competitions` and failure switches, then read `requests`."""

    def __init__(self, username: str = "stub-user", key: str = "stub-key-0000", token: str | None = None) -> None:
        self.username, self.key, self.token = username, key, token
        self.competitions: dict[str, Competition] = {}
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.uploads: dict[str, bytes] = {}
        self.upload_names: dict[str, str] = {}
        self.put_status = 200  # answer to upload PUTs; e.g. 403 makes the upload fail
        self.put_failures: list[int] = []  # statuses answered to the next PUTs before put_status (e.g. [503])
        self.truncate_blobs = 0  # how many blob answers to cut in half (-1: all)
        self.rate_limited: dict[str, int] = {}  # API method -> how many calls get the nested 429
        self.retry_after: str | None = None
        self.stall: set[str] = set()  # API methods, "blobs" or "upload" that get no answer until stop()
        self.drop_answer: set[str] = set()  # API methods that do their work, then never answer
        self.datasets: set[str] = set()  # "owner/slug" of the datasets that exist (kernel dataset sources)
        self.dataset_zips: dict[str, bytes] = {}  # "owner/slug" -> its files' zip (DownloadDataset); these exist too
        self.kernel_plan = KernelPlan()  # what each newly pushed kernel version does (copied at push time)
        self.kernel_output_page: int | None = None  # force ListKernelSessionOutput pages smaller than pageSize
        self.kernels: dict[str, list[dict[str, Any]]] = {}  # "owner/slug" -> versions (number, request, plan, polls)
        self.lock = threading.Lock()
        self.released = threading.Event()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []

    def _address(self, i: int, host: str) -> str:
        return f"http://{host}:{self._servers[i].server_address[1]}"

    @property
    def url(self) -> str:
        """The API's base URL, e.g. http://127.0.0.1:54321."""
        return self._address(0, "127.0.0.1")

    @property
    def storage_url(self) -> str:
        """The storage host's base URL: another host name and port than the API's."""
        return self._address(1, "localhost")

    def start(self) -> KaggleStub:
        """Listen on two free ports of 127.0.0.1 (API, storage) in daemon threads."""
        for role in ("api", "storage"):
            handler = type("Handler", (_Handler,), {"stub": self, "role": role})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Release stalled answers, shut down and free the ports."""
        self.released.set()
        for server, thread in zip(self._servers, self._threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> KaggleStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, part: str) -> list[dict[str, Any]]:
        """Recorded requests with `part` in their path: an API method name, 'blobs' or 'upload'."""
        return [r for r in self.requests if part in urlsplit(r["path"]).path.split("/")]

    def pushed(self, ref: str) -> list[dict[str, Any]]:
        """The SaveKernel requests (as sent, camelCase JSON) of kernel `ref` ("owner/slug"), oldest first."""
        return [v["request"] for v in self.kernels.get(ref, [])]

    def score(self, ref: int, public: float | None, private: float | None = None, status: str = "COMPLETE") -> None:
        """Simulate Kaggle scoring a submission now."""
        for comp in self.competitions.values():
            for s in comp.submissions:
                if s["ref"] == ref:
                    s.pop("_polls", None)
                    s.update(
                        status=status,
                        publicScore="" if public is None else str(public),
                        privateScore="" if private is None else str(private),
                    )

    def add_submissions(self, slug: str, n: int, start_ref: int = 5000) -> None:
        """n scored submissions made elsewhere (newest first, as Kaggle lists them)."""
        comp = self.competitions[slug]
        base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        for i in range(n):
            comp.submissions.append(
                {
                    "ref": start_ref + i,
                    "date": (base - dt.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "description": f"old {i}",
                    "fileName": f"old{i}.csv",
                    "status": "COMPLETE",
                    "publicScore": f"{0.5 + i / 1000:.4f}",
                    "privateScore": "",
                }
            )


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str) -> int:
    return int(base64.urlsafe_b64decode(token.encode()).decode().split(":")[1])


def _drop_zero(obj: dict[str, Any]) -> dict[str, Any]:
    """Protobuf JSON leaves out fields that hold their default value (0, false, "", an enum's first value)."""
    return {k: v for k, v in obj.items() if v not in (0, False, "", None) and (k, v) != ("status", "PENDING")}


class _Handler(BaseHTTPRequestHandler):
    stub: KaggleStub
    role: str
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
                {
                    "role": self.role,
                    "method": self.command,
                    "path": self.path,
                    "body": body,
                    "headers": dict(self.headers.items()),
                }
            )
            return len(self.stub.requests) <= MAX_REQUESTS

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"code": status, "message": message})

    def _stall(self, what: str) -> bool:
        if what in self.stub.stall:
            self.stub.released.wait(timeout=8)
            self.close_connection = True
            return True
        return False

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        basic = base64.b64encode(f"{self.stub.username}:{self.stub.key}".encode()).decode()
        return auth == f"Basic {basic}" or bool(self.stub.token and auth == f"Bearer {self.stub.token}")

    def _storage_guard(self) -> bool:
        """The storage host never sees credentials: refuse (and record) any Authorization header."""
        if self.role != "storage":
            self._error(404, "Not found")
            return False
        if self.headers.get("Authorization"):
            with self.stub.lock:
                self.stub.violations.append(f"Authorization header sent to storage: {self.command} {self.path}")
            self._error(400, "Authorization header not allowed on signed URLs")
            return False
        return True

    # ---------- API ----------

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self._body()
        if body is None:
            return self._error(413, "request too large")
        if not self._record(body):
            return self._error(503, "stub request cap reached")
        if self.role != "api":
            return self._error(405, "Method not allowed")
        path = urlsplit(self.path).path
        if not path.startswith(API) or path.count("/") != 3:
            return self._error(404, "Not found")
        _, _, service, method = path.split("/")
        if self._stall(method):
            return None
        with self.stub.lock:
            limited = self.stub.rate_limited.get(method, 0)
            if limited:
                self.stub.rate_limited[method] = limited - 1
        if limited:
            nested = {"error": {"code": 429, "message": QUOTA_429, "status": "RESOURCE_EXHAUSTED"}}
            return self._json(429, nested, {"Retry-After": self.stub.retry_after} if self.stub.retry_after else None)
        req = json.loads(body or b"{}")
        if (service, method) == ("security.OAuthService", "IntrospectToken"):
            active = bool(self.stub.token) and req.get("token") == self.stub.token
            return self._json(200, _drop_zero({"active": active, "username": self.stub.username if active else ""}))
        if not self._authorized():
            return self._error(401, "Unauthenticated")
        if service in ("kernels.KernelsApiService", "datasets.DatasetApiService"):
            other = getattr(self, f"_{service.split('.')[0]}_{method}", None)
            if other is None:
                return self._error(404, f"No method {service}/{method}")
            return other(req)
        if service != "competitions.CompetitionApiService":
            return self._error(404, f"No method {service}/{method}")
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(404, f"No method {method}")
        slug = req.get("competitionName", "")
        comp = self.stub.competitions.get(slug)
        if comp is None:
            return self._error(403, DENIED_403)
        return handler(slug, comp, req)

    def _api_GetCompetition(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        answer = {"ref": slug, "title": comp.title, "userHasEntered": comp.rules_accepted}
        self._json(200, _drop_zero(answer))  # not joined: userHasEntered false, so left out

    def _api_ListDataFiles(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        self._json(200, {"files": [{"ref": f"{slug}.zip", "name": f"{slug}.zip", "totalBytes": len(comp.zip_bytes)}]})

    def _redirect(self, blob: str) -> None:
        """302 to a signed URL of `blob` on the storage host."""
        self.send_response(302)
        self.send_header("Location", f"{self.stub.storage_url}/blobs/{blob}?X-Goog-Signature=stubsig")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _api_DownloadDataFiles(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        if not comp.rules_accepted:
            return self._error(403, RULES_403)
        self._redirect(f"{slug}.zip")

    # ---------- datasets ----------

    def _datasets_DownloadDataset(self, req: dict) -> None:  # noqa: N802
        ref = f"{req.get('ownerSlug', '')}/{req.get('datasetSlug', '')}"
        if ref not in self.stub.dataset_zips:
            return self._error(403, DATASET_DENIED_403)
        self._redirect(f"datasets/{ref}.zip")

    def _api_GetSubmissionLimits(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        if not (comp.rules_accepted and comp.on_team):
            return self._json(200, {})  # not on a team: every figure is zero, and zeros are left out
        today = _today_count(comp)
        figures = {
            "numToday": today,
            "numTotal": len(comp.submissions),
            "numAllowedNow": max(comp.daily_limit - today, 0),
            "limitedByTotal": False,
        }
        self._json(200, _drop_zero(figures))

    def _api_StartSubmissionUpload(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        if not comp.rules_accepted:
            return self._error(400, JOIN_400)
        with self.stub.lock:
            token = f"blob-{len(self.stub.uploads) + len(self.stub.requests)}"
            self.stub.uploads.setdefault(token, b"")
            self.stub.upload_names[token] = req.get("fileName", "")
        self._json(200, {"token": token, "createUrl": f"{self.stub.storage_url}/upload/{token}?upload_id=stub"})

    def _api_CreateSubmission(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        if not comp.rules_accepted:
            return self._error(400, JOIN_400)
        token = req.get("blobFileTokens", "")
        if not self.stub.uploads.get(token):
            return self._error(400, "The submission file was not uploaded.")
        if _today_count(comp) >= comp.daily_limit:
            return self._error(400, LIMIT_400.format(n=comp.daily_limit))
        with self.stub.lock:
            comp.on_team = True
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
                    "_polls": comp.pending_polls,
                },
            )
        if "CreateSubmission" in self.stub.drop_answer:
            self.stub.released.wait(timeout=8)
            self.close_connection = True
            return None
        self._json(200, {"message": f"Successfully submitted to {comp.title}", "ref": ref})

    def _api_ListSubmissions(self, slug: str, comp: Competition, req: dict) -> None:  # noqa: N802
        token = req.get("pageToken") or ""
        start = _offset(token) if token else (int(req.get("page") or 1) - 1) * PAGE  # pageSize is ignored
        with self.stub.lock:
            chunk = comp.submissions[start : start + PAGE]
            for s in chunk:
                if "_polls" in s and comp.outcome is not None:
                    s["_polls"] -= 1
                    if s["_polls"] < 0:
                        del s["_polls"]
                        s.update(comp.outcome)
            subs = [_drop_zero({k: v for k, v in s.items() if not k.startswith("_")}) for s in chunk]
        more = start + PAGE < len(comp.submissions)
        self._json(200, _drop_zero({"submissions": subs, "nextPageToken": _token(start + PAGE) if more else ""}))

    # ---------- kernels ----------

    def _kernels_SaveKernel(self, req: dict) -> None:  # noqa: N802
        ref = str(req.get("slug") or "")
        owner, _, slug = ref.partition("/")
        if not owner or not slug or "/" in slug:
            return self._error(400, f"Invalid kernel slug '{ref}'")
        if owner != self.stub.username:
            return self._error(403, KERNEL_UPDATE_403)
        language, kind = req.get("language"), req.get("kernelType")
        if language not in ("python", "r", "rmarkdown") or kind not in ("script", "notebook"):
            return self._error(400, "A valid language and kernel type must be specified")
        text = str(req.get("text") or "")
        if kind == "notebook":
            try:
                cells = json.loads(text)["cells"]
            except (ValueError, KeyError, TypeError):
                return self._error(400, "The notebook is not valid JSON with cells")
            if any(not isinstance(c.get("source"), str) for c in cells):
                return self._error(400, "Cell sources must be strings")
        known = self.stub.datasets | set(self.stub.dataset_zips)
        invalid_datasets = [d for d in req.get("datasetDataSources") or [] if d not in known]
        invalid_comps = [c for c in req.get("competitionDataSources") or [] if c not in self.stub.competitions]
        with self.stub.lock:
            versions = self.stub.kernels.setdefault(ref, [])
            number = len(versions) + 1
            plan = KernelPlan(
                list(self.stub.kernel_plan.statuses),
                dict(self.stub.kernel_plan.outputs),
                self.stub.kernel_plan.log,
                self.stub.kernel_plan.failure_message,
            )
            versions.append({"number": number, "request": req, "plan": plan, "polls": 0})
        answer = {
            "ref": f"/code/{ref}",
            "url": f"https://www.kaggle.com/code/{ref}",
            "versionNumber": number,
            "invalidDatasetSources": invalid_datasets,
            "invalidCompetitionSources": invalid_comps,
            "kernelId": 7000 + len(self.stub.kernels),
        }
        self._json(200, {k: v for k, v in answer.items() if v != []})

    def _kernel(self, req: dict) -> tuple[str, dict[str, Any]] | None:
        ref = f"{req.get('userName', '')}/{req.get('kernelSlug', '')}"
        versions = self.stub.kernels.get(ref)
        if not versions:
            self._error(403, KERNEL_DENIED_403)
            return None
        return ref, versions[-1]

    @staticmethod
    def _status(version: dict[str, Any]) -> str:
        statuses = version["plan"].statuses
        return statuses[min(version["polls"], len(statuses) - 1)]

    def _kernels_GetKernelSessionStatus(self, req: dict) -> None:  # noqa: N802
        found = self._kernel(req)
        if found is None:
            return None
        _, version = found
        with self.stub.lock:
            status = self._status(version)
            version["polls"] += 1
        answer: dict[str, Any] = {} if status == "QUEUED" else {"status": status}
        if status == "ERROR" and version["plan"].failure_message:
            answer["failureMessage"] = version["plan"].failure_message
        self._json(200, answer)

    def _kernels_ListKernelSessionOutput(self, req: dict) -> None:  # noqa: N802
        found = self._kernel(req)
        if found is None:
            return None
        ref, version = found
        plan = version["plan"]
        if self._status(version) not in ("COMPLETE", "ERROR"):
            return self._json(200, {})  # nothing written yet
        size = int(req.get("pageSize") or KERNEL_PAGE)
        size = min(size, self.stub.kernel_output_page or size)
        start = _offset(req["pageToken"]) if req.get("pageToken") else 0
        names = sorted(plan.outputs)
        files = [
            {
                "url": f"{self.stub.storage_url}/kernel-output/{ref}/{version['number']}/{n}?X-Goog-Signature=stubsig",
                "fileName": n,
            }
            for n in names[start : start + size]
        ]
        answer: dict[str, Any] = {"files": files}
        if start == 0 and plan.log:
            answer["log"] = plan.log
        if start + size < len(names):
            answer["nextPageToken"] = _token(start + size)
        self._json(200, answer)

    def _kernel_output_file(self, path: str) -> None:
        parts = path.split("/")  # "", "kernel-output", owner, slug, number, name
        if len(parts) != 6:
            return self._error(404, "No such output")
        _, _, owner, slug, number, name = parts
        versions = self.stub.kernels.get(f"{owner}/{slug}", [])
        data = next((v["plan"].outputs.get(name) for v in versions if str(v["number"]) == number), None)
        if data is None:
            return self._error(404, "No such output")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True
        return None

    # ---------- storage ----------

    def do_GET(self) -> None:  # noqa: N802
        self._record(b"")
        if not self._storage_guard() or self._stall("blobs"):
            return None
        path = urlsplit(self.path).path
        if path.startswith("/kernel-output/"):
            return self._kernel_output_file(path)
        data = self._blob(path)
        if data is None:
            return self._error(404, "No such blob")
        start = 0
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

    def _blob(self, path: str) -> bytes | None:
        """The bytes behind a blob path: /blobs/<slug>.zip (a competition's) or /blobs/datasets/<owner>/<name>.zip."""
        name = path.removeprefix("/blobs/").removesuffix(".zip")
        if not path.startswith("/blobs/") or not path.endswith(".zip"):
            return None
        if name.startswith("datasets/"):
            return self.stub.dataset_zips.get(name.removeprefix("datasets/"))
        comp = self.stub.competitions.get(name)
        return None if comp is None else comp.zip_bytes

    def do_PUT(self) -> None:  # noqa: N802
        body = self._body()
        if body is None:
            return self._error(413, "request too large")
        self._record(body)
        if not self._storage_guard() or self._stall("upload"):
            return None
        token = urlsplit(self.path).path.rsplit("/", 1)[-1]
        if not urlsplit(self.path).path.startswith("/upload/") or token not in self.stub.uploads:
            return self._error(404, "No such upload")
        with self.stub.lock:
            status = self.stub.put_failures.pop(0) if self.stub.put_failures else self.stub.put_status
        if status not in (200, 201):
            return self._error(status, "upload rejected")
        with self.stub.lock:
            self.stub.uploads[token] = body
        self._json(200, {})


def _today_count(comp: Competition) -> int:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    return sum(1 for s in comp.submissions if s["date"].startswith(today))


SITECUSTOMIZE = '''"""Test-only: the kaggle client's calls go to the stub (KAGGLE_STUB_URL); loopback only."""
import ipaddress
import os
import socket

if os.environ.get("KAGGLE_STUB_URL"):
    from kagglesdk import kaggle_env

    kaggle_env._env_to_endpoint[kaggle_env.KaggleEnv.PROD] = os.environ["KAGGLE_STUB_URL"]

    _connect = socket.socket.connect

    def _loopback_only(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            try:
                local = host == "localhost" or ipaddress.ip_address(host.split("%")[0]).is_loopback
            except ValueError:
                local = False
            if not local:
                os.write(2, f"test network guard: connection to {host} refused (not loopback)\\n".encode())
                os._exit(97)
        return _connect(self, address)

    socket.socket.connect = _loopback_only
'''


def subprocess_env(stub: KaggleStub, folder: Any, base: dict[str, str]) -> dict[str, str]:
    """Environment for running the CLI in a subprocess against the stub (a sitecustomize in `folder` redirects it)."""
    from pathlib import Path

    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(base)
    env["PYTHONPATH"] = str(folder) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["KAGGLE_STUB_URL"] = stub.url
    # Fail closed: should the redirect ever not load, HTTPS to the real service goes to a dead loopback proxy.
    env["HTTPS_PROXY"] = env["https_proxy"] = "http://127.0.0.1:9"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env
