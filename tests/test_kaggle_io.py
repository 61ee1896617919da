"""Kaggle download, submit and submissions with the real kaggle client against the stand-in (tests/kaggle_stub.py)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kaggle_fixtures import (  # noqa: E402
    EXPECTED,
    HOUSE_SLUG,
    SECRET,
    SLUG,
    TOKEN,
    competition_zip,
    download_without_credentials,
    make_run,
    no_secret_anywhere,
    redirected_loader,
    toy_module,
)
from kaggle_stub import Competition, KaggleStub, subprocess_env  # noqa: E402

from pipeline import cli, contract  # noqa: E402
from pipeline.datadir import DataError, resolve_data  # noqa: E402
from pipeline.kaggle.auth import KaggleError  # noqa: E402
from pipeline.kaggle.io import download_competition, download_if_possible  # noqa: E402
from pipeline.kaggle.records import FIELDS, RECORD_FILE, load_records  # noqa: E402

# ---------- download ----------


def test_download_extracts_zip_and_inner_7z_and_is_idempotent(stub: KaggleStub, capsys) -> None:
    dest = download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    assert (dest / "train" / "1.png").read_bytes() == b"\x89PNG fake image 1"
    assert (dest / "sample_submission.csv").read_text().startswith("Id,SalePrice")
    assert [r["method"] for r in stub.requests] == ["POST", "GET"]
    assert len(stub.calls("DownloadDataFiles")) == 1 and len(stub.calls("blobs")) == 1
    assert sorted(p.name for p in Path("data").iterdir()) == [SLUG]  # no zip, no staging folder left behind
    download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    assert len(stub.requests) == 2  # complete data is not fetched again: no request at all
    assert "nothing to download" in capsys.readouterr().out


def test_run_downloads_missing_data_when_credentials_exist(stub: KaggleStub, monkeypatch) -> None:
    module = types.SimpleNamespace(KAGGLE_SLUG=SLUG, EXPECTED_FILES=EXPECTED, __name__="competitions.toy")
    folder, is_sample = resolve_data(module, None, use_sample=False)
    assert not is_sample and (folder / "train" / "0.png").exists()
    monkeypatch.delenv("KAGGLE_KEY")
    other = types.SimpleNamespace(KAGGLE_SLUG="other", EXPECTED_FILES=["a.csv"], __name__="competitions.other")
    assert download_if_possible(other, Path("data") / "other") is False  # quietly: no credentials
    with pytest.raises(DataError, match="No data for 'other'"):
        resolve_data(other, None, use_sample=False)
    assert len(stub.calls("DownloadDataFiles")) == 1


def test_interrupted_download_is_not_taken_for_complete(stub: KaggleStub, no_sleep, capsys, monkeypatch) -> None:
    stub.truncate_blobs = -1  # every answer is cut short, retries included
    with pytest.raises(KaggleError, match="interrupted"):
        download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    assert not (Path("data") / SLUG).exists() and not (Path("data") / f"{SLUG}.zip").exists()
    module = types.SimpleNamespace(KAGGLE_SLUG=SLUG, EXPECTED_FILES=EXPECTED, __name__="competitions.toy")
    monkeypatch.delenv("KAGGLE_KEY")
    with pytest.raises(DataError, match="No data for"):  # `run` does not take the partial file for data
        resolve_data(module, None, use_sample=False)
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    stub.truncate_blobs = 0
    dest = download_competition(SLUG, Path("data") / SLUG, EXPECTED)  # the next run completes it
    assert (dest / "train.csv").read_text() == "Id,x,SalePrice\n1,0.5,100\n2,0.7,200\n" * 200
    assert (dest / "train" / "0.png").exists()


def test_truncated_zip_in_place_is_downloaded_again(stub: KaggleStub, capsys) -> None:
    Path("data").mkdir()
    (Path("data") / f"{SLUG}.zip").write_bytes(competition_zip()[:300])  # e.g. a browser download cut short
    dest = download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    assert (dest / "test.csv").exists() and len(stub.calls("blobs")) == 1
    assert "incomplete" in capsys.readouterr().out


def test_rules_not_accepted(stub: KaggleStub) -> None:
    stub.competitions[SLUG].rules_accepted = False
    with pytest.raises(KaggleError) as e:
        download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    msg = str(e.value)
    assert f"https://www.kaggle.com/competitions/{SLUG}/rules" in msg and "accept" in msg
    assert "You must accept this competition's rules" in msg
    assert not (Path("data") / SLUG).exists()


def test_unknown_slug_is_permission_denied_and_may_be_wrong(stub: KaggleStub) -> None:
    # The real server answers 403 "Permission 'competitions.get' was denied" for a slug it does not know.
    with pytest.raises(KaggleError) as e:
        download_competition("no-such-comp", Path("data") / "x", [])
    msg = str(e.value)
    assert "denied access to 'no-such-comp'" in msg and "slug may be wrong" in msg and "private" in msg
    assert "rules" not in msg.split("(")[0]


def test_missing_credentials(stub: KaggleStub, monkeypatch) -> None:
    msg = download_without_credentials(monkeypatch)
    for hint in ("kaggle.json", "KAGGLE_USERNAME", "KAGGLE_KEY", "chmod 600", "https://www.kaggle.com/settings/api"):
        assert hint in msg
    assert stub.requests == []


def test_kaggle_json_credentials_and_rejected_key(stub: KaggleStub, monkeypatch, capsys) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    cfg = Path.home() / ".kaggle" / "kaggle.json"
    cfg.write_text(json.dumps({"username": "stub-user", "key": "wrong-" + SECRET[::-1]}))
    cfg.chmod(0o644)
    with pytest.raises(KaggleError) as e:
        download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    err = capsys.readouterr().err
    assert "401" in str(e.value) and "rejected" in str(e.value) and SECRET[::-1] not in str(e.value)
    assert "chmod 600" in err  # kaggle.json readable by others: say how to fix it
    cfg.write_text(json.dumps({"username": "stub-user", "key": SECRET}))
    cfg.chmod(0o600)
    assert (download_competition(SLUG, Path("data") / SLUG, EXPECTED) / "train.csv").exists()


def test_no_network(stub: KaggleStub, monkeypatch) -> None:
    from kagglesdk import kaggle_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.PROD, f"http://127.0.0.1:{port}")
    with pytest.raises(KaggleError, match="cannot reach Kaggle"):
        download_competition(SLUG, Path("data") / SLUG, EXPECTED)


def test_download_force_always_extracts_again(stub: KaggleStub, toy, capsys) -> None:
    dest = download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    train = dest / "train.csv"
    good = train.read_bytes()
    st = train.stat()
    train.write_bytes(b"X" * len(good))  # damaged in place: same size, and the mtime put back, so no stamp can tell
    os.utime(train, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cli.main(["download", "competitions/toy"]) == 0 and train.read_bytes() != good  # looks complete
    assert cli.main(["download", "competitions/toy", "--force"]) == 0
    assert train.read_bytes() == good and len(stub.calls("blobs")) == 2


def test_damaged_folder_is_repaired_by_a_plain_download(stub: KaggleStub, capsys) -> None:
    dest = download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    (dest / "test.csv").unlink()
    capsys.readouterr()
    download_competition(SLUG, dest, EXPECTED)
    assert "damaged (test.csv is missing)" in capsys.readouterr().out
    assert (dest / "test.csv").read_text() == "Id,x\n3,0.1\n4,0.2\n" and len(stub.calls("blobs")) == 2


def test_rate_limited_download_is_not_a_submission_limit(stub: KaggleStub) -> None:
    stub.rate_limited["DownloadDataFiles"] = 1
    with pytest.raises(KaggleError) as e:
        download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    msg = str(e.value)
    assert "rate limiting" in msg and "RESOURCE_EXHAUSTED" in msg and "Submission limit" not in msg
    assert not (Path("data") / SLUG).exists()


def test_stalled_network_ends_in_cannot_reach_kaggle(stub: KaggleStub, monkeypatch) -> None:
    import time

    monkeypatch.setenv("PIPELINE_KAGGLE_TIMEOUT", "0.4")
    stub.stall.add("DownloadDataFiles")
    started = time.monotonic()
    with pytest.raises(KaggleError, match=r"cannot reach Kaggle at http://127\.0\.0\.1:\d+ \(no answer in 0\.4 s\)"):
        download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    assert time.monotonic() - started < 5


def test_storage_is_another_host_and_never_sees_credentials(stub: KaggleStub, monkeypatch) -> None:
    import requests

    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)  # Bearer auth on the API
    download_competition(SLUG, Path("data") / SLUG, EXPECTED)
    [api_call] = stub.calls("DownloadDataFiles")
    [blob] = stub.calls("blobs")
    assert api_call["headers"]["Authorization"] == f"Bearer {TOKEN}" and api_call["role"] == "api"
    assert blob["role"] == "storage" and "Authorization" not in blob["headers"]
    assert stub.storage_url.split(":")[-1] != stub.url.split(":")[-1] and "localhost" in stub.storage_url
    # The stand-in's own check: a request to storage with credentials is refused and recorded.
    answer = requests.get(f"{stub.storage_url}/blobs/{SLUG}.zip", headers={"Authorization": "Bearer x"}, timeout=5)
    assert answer.status_code == 400 and len(stub.violations) == 1
    stub.violations.clear()


# ---------- submit / submissions through the CLI ----------


def test_submit_uploads_the_validated_bytes_and_records_it(toy, stub: KaggleStub, capsys) -> None:
    make_run("20250101-100000", cv=0.2)
    run = make_run("20250102-100000", cv=0.1234, started="2025-01-02T10:00:00")  # the latest
    assert cli.main(["submit", "competitions/toy"]) == 0
    out = capsys.readouterr().out
    assert "Successfully submitted" in out and "4 submissions left today" in out
    [token] = [t for t, b in stub.uploads.items() if b]
    assert stub.uploads[token] == (run / "submission.csv").read_bytes()
    create = json.loads(stub.calls("CreateSubmission")[0]["body"])
    assert "20250102-100000" in create["submissionDescription"] and "0.1234" in create["submissionDescription"]
    [rec] = load_records(run)
    assert tuple(rec) == FIELDS and rec["ref"] == 1000 and rec["status"] == "PENDING" and rec["public_score"] is None
    assert rec["file"] == "20250102-100000.csv" and rec["message"] == create["submissionDescription"]
    assert not (Path("runs") / "toy" / "20250101-100000" / RECORD_FILE).exists()
    assert cli.main(["submit", "competitions/toy", "20250101-100000", "-m", "by hand"]) == 0
    assert load_records(Path("runs") / "toy" / "20250101-100000")[0]["message"] == "by hand"


def test_failed_upload_put_is_an_error(toy, stub: KaggleStub, capsys) -> None:
    run = make_run("20250101-100000")
    stub.put_status = 403
    assert cli.main(["submit", "competitions/toy"]) == 2
    err = capsys.readouterr().err
    assert "Could not submit" in err and "nothing was submitted" in err
    assert stub.calls("CreateSubmission") == [] and not (run / RECORD_FILE).exists()


def test_submission_limit_reached(toy, stub: KaggleStub, capsys) -> None:
    run = make_run("20250101-100000")
    stub.competitions[SLUG].daily_limit = 1
    assert cli.main(["submit", "competitions/toy"]) == 0
    assert cli.main(["submit", "competitions/toy"]) == 2  # refused before uploading anything
    err = capsys.readouterr().err
    assert "Submission limit reached" in err and "00:00 UTC" in err
    assert len(stub.calls("StartSubmissionUpload")) == 1 and len(load_records(run)) == 1


def test_submission_limit_reported_by_create_submission(toy, stub: KaggleStub, capsys, monkeypatch) -> None:
    make_run("20250101-100000")
    stub.competitions[SLUG].daily_limit = 0
    monkeypatch.setattr("pipeline.kaggle.io.submission_limits", lambda *a: None)  # limits endpoint unavailable
    assert cli.main(["submit", "competitions/toy"]) == 2
    assert "Submission limit reached" in capsys.readouterr().err


def test_sample_run_and_invalid_file_are_refused(toy, stub: KaggleStub, capsys) -> None:
    make_run("20250101-100000", sample=True)
    assert cli.main(["submit", "competitions/toy"]) == 2
    assert "built-in sample data" in capsys.readouterr().err
    run = make_run("20250102-100000", started="2025-01-02T10:00:00", values=("101.5", "nan"))
    assert cli.main(["submit", "competitions/toy", str(run)]) == 2
    assert "does not validate" in capsys.readouterr().err
    assert stub.requests == []


def test_no_run_and_closed_competition(stub: KaggleStub, monkeypatch, capsys) -> None:
    module = toy_module()
    with redirected_loader(monkeypatch, lambda spec: module):
        assert cli.main(["submit", "competitions/toy"]) == 2
        assert "No finished run of toy" in capsys.readouterr().err
        module.SUBMIT_CLOSED = "This competition was scored on CodaLab, which is closed."
        run = make_run("20250101-100000")
        assert cli.main(["submit", "competitions/toy"]) == 2
        err = capsys.readouterr().err
        assert "CodaLab" in err and str(run / "submission.csv") in err
        assert stub.requests == []


def test_submissions_table_joins_scores_to_runs(toy, stub: KaggleStub, capsys, monkeypatch) -> None:
    from pipeline.report import leaderboard_score

    monkeypatch.setenv("COLUMNS", "200")  # rich's table width when output is not a terminal
    a = make_run("20250101-100000", cv=0.2)
    b = make_run("20250101-100000-tag", cv=0.15, started="2025-01-01T11:00:00")
    assert cli.main(["submit", "competitions/toy", str(a)]) == 0
    comp = stub.competitions[SLUG]
    # Submitted elsewhere (the website) with the run id in the message; and one no run made.
    comp.submissions.insert(
        0,
        {
            "ref": 2001,
            "date": "2025-01-02T09:00:00.000Z",
            "description": "web 20250101-100000-tag",
            "fileName": "mine.csv",
            "status": "COMPLETE",
            "publicScore": "0.151",
            "privateScore": "0.149",
        },
    )
    comp.submissions.insert(
        0,
        {
            "ref": 2002,
            "date": "2025-01-03T09:00:00.000Z",
            "description": "old notebook",
            "fileName": "nb.csv",
            "status": "ERROR",
            "errorDescription": "bad header",
        },
    )
    stub.score(1000, 0.2101, 0.2099)
    capsys.readouterr()
    assert cli.main(["submissions", "competitions/toy"]) == 0
    out = capsys.readouterr().out
    assert "0.2101" in out and "0.151" in out and "bad header" in out and "3 submissions, 2 matched" in out
    [ra] = load_records(a)
    assert ra["ref"] == 1000 and ra["status"] == "COMPLETE" and ra["public_score"] == 0.2101
    [rb] = load_records(b)
    assert rb["ref"] == 2001 and rb["private_score"] == 0.149 and tuple(rb) == FIELDS
    assert leaderboard_score(a) == 0.2101 and leaderboard_score(b) == 0.151  # what `runs` shows as LB
    assert cli.main(["submissions", "competitions/toy"]) == 0
    assert "0 run folders updated" in capsys.readouterr().out


def test_no_secret_in_any_output_or_file(stub: KaggleStub, toy, capsys, monkeypatch) -> None:
    outputs = []
    assert cli.main(["download", "competitions/toy"]) == 0
    make_run("20250101-100000")
    assert cli.main(["submit", "competitions/toy"]) == 0
    assert cli.main(["submissions", "competitions/toy"]) == 0
    stub.competitions[SLUG].rules_accepted = False
    assert cli.main(["download", "competitions/toy", "--force"]) == 2
    monkeypatch.setenv("KAGGLE_KEY", SECRET + "-revoked")
    assert cli.main(["submissions", "competitions/toy"]) == 2
    outputs.append(capsys.readouterr())
    # The same with a new-style access token (Bearer, checked by IntrospectToken).
    stub.competitions[SLUG].rules_accepted = True
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    assert cli.main(["submit", "competitions/toy"]) == 0
    assert cli.main(["submissions", "competitions/toy"]) == 0
    assert stub.calls("IntrospectToken") and stub.calls("ListSubmissions")[-1]["headers"]["Authorization"].startswith(
        "Bearer"
    )
    outputs.append(capsys.readouterr())
    texts = [t for o in outputs for t in (o.out, o.err)]
    assert "Unauthenticated" in texts[1] or "rejected" in texts[1]
    no_secret_anywhere(Path.cwd().parent, *texts)


@pytest.mark.skipif(
    not (Path(__file__).resolve().parent.parent / "competitions" / "house_prices" / "__init__.py").is_file(),
    reason="competitions/house_prices not written yet",
)
def test_house_prices_cli_in_a_subprocess(stub: KaggleStub, tmp_path: Path) -> None:
    import pandas as pd

    module = contract.load_competition("competitions/house_prices")
    assert module.KAGGLE_SLUG == HOUSE_SLUG
    raw = tmp_path / "raw"
    module.sample(raw)  # Kaggle's layout, as the zip holds it
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name in module.EXPECTED_FILES:
            zf.write(raw / name, name)
    stub.competitions[HOUSE_SLUG] = Competition(zip_bytes=out.getvalue(), title="House Prices")

    def cli_run(*argv: str) -> subprocess.CompletedProcess:
        env = subprocess_env(stub, tmp_path / "site", dict(os.environ))
        return subprocess.run(
            [sys.executable, "-m", "pipeline", *argv], env=env, capture_output=True, text=True, timeout=120
        )

    assert cli.main(["download", "competitions/house_prices"]) == 0
    data_dir = Path("data") / HOUSE_SLUG
    assert all((data_dir / f).exists() for f in module.EXPECTED_FILES)
    run = Path("runs") / "house_prices" / "20250101-100000"
    run.mkdir(parents=True)
    answer = pd.read_csv(data_dir / "sample_submission.csv").assign(SalePrice=180000.5)
    answer.to_csv(run / "submission.csv", index=False)
    (run / "summary.json").write_text(
        json.dumps(
            {
                "competition": "house_prices",
                "slug": HOUSE_SLUG,
                "run_id": run.name,
                "run_dir": str(run.resolve()),
                "sample": False,
                "data_dir": str(data_dir.resolve()),
                "metric": "rmsle",
                "cv": 0.125,
                "submission": str((run / "submission.csv").resolve()),
                "started": "2025-01-01T10:00:00",
            }
        )
    )
    done = cli_run("submit", "competitions/house_prices")
    assert done.returncode == 0, done.stderr
    assert (run / "submission.csv").read_bytes() in stub.uploads.values()
    stub.put_status = 403  # the kaggle CLI would print "Could not submit" and exit 0
    done = cli_run("submit", "competitions/house_prices")
    assert done.returncode == 2 and "Could not submit" in done.stderr and len(load_records(run)) == 1
    no_secret_anywhere(tmp_path, done.stdout, done.stderr)


def test_token_signs_in_once_per_process(stub: KaggleStub, tmp_path: Path, monkeypatch) -> None:
    # In a fresh process `import kaggle` signs in (one IntrospectToken for a token); the command reuses that client.
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    stub.add_submissions(SLUG, 3)
    code = f"from pipeline.kaggle.io import list_submissions; print(len(list_submissions({SLUG!r})))"
    env = subprocess_env(stub, tmp_path / "site", dict(os.environ))
    env["PYTHONPATH"] += os.pathsep + str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3" and len(stub.calls("IntrospectToken")) == 1
    assert stub.calls("ListSubmissions")[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    no_secret_anywhere(tmp_path, done.stdout, done.stderr)
