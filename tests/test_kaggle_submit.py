"""`submit` (limits, uploads, lost answers, moved data), `submit --wait`, and scores reaching `submissions`/`runs`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kaggle_fixtures import SLUG, make_run  # noqa: E402
from kaggle_stub import KaggleStub  # noqa: E402

from pipeline import cli  # noqa: E402
from pipeline.kaggle.records import load_records  # noqa: E402


def submit(*extra: str) -> int:
    return cli.main(["submit", "competitions/toy", *extra])


# ---------- defect 1: a success is a success ----------


def test_success_whose_title_mentions_limits_is_recorded(toy, stub: KaggleStub, capsys) -> None:
    stub.competitions[SLUG].title = "Daily Submission Limit Reached? Allowance Exceeded Challenge"
    run = make_run("20250101-100000")
    assert submit() == 0
    out = capsys.readouterr().out
    assert "Successfully submitted to Daily Submission Limit" in out
    [rec] = load_records(run)
    assert rec["ref"] == 1000 and rec["status"] == "PENDING"
    assert len(stub.calls("CreateSubmission")) == 1


# ---------- defect 2: rate limiting and joining, while submitting ----------


def test_429_on_create_submission_is_rate_limiting_not_the_daily_limit(toy, stub: KaggleStub, capsys) -> None:
    run = make_run("20250101-100000")
    stub.rate_limited["CreateSubmission"] = 1
    stub.retry_after = "30"
    assert submit() == 2
    err = capsys.readouterr().err
    assert "rate limiting" in err and "retry in 30 s" in err.lower() and "Submission limit" not in err
    assert load_records(run) == []


def test_submit_before_joining_points_to_the_rules(toy, stub: KaggleStub, capsys) -> None:
    run = make_run("20250101-100000")
    stub.competitions[SLUG].rules_accepted = False
    assert submit() == 2
    err = capsys.readouterr().err
    assert f"https://www.kaggle.com/competitions/{SLUG}/rules" in err and "not joined" in err
    assert "Submission limit" not in err  # the all-zero limits of a non-member do not read as "0 left"
    assert load_records(run) == [] and stub.calls("CreateSubmission") == []


def test_submit_asks_whether_you_joined_before_uploading_anything(toy, stub: KaggleStub, capsys) -> None:
    run = make_run("20250101-100000")
    stub.competitions[SLUG].rules_accepted = False
    assert submit() == 2
    err = capsys.readouterr().err
    assert f"Cannot submit to '{SLUG}': you have not joined the competition '{SLUG}'" in err  # push's words
    assert "Traceback" not in err and len(stub.calls("GetCompetition")) == 1
    assert stub.calls("StartSubmissionUpload") == [] and stub.calls("upload") == [] and stub.uploads == {}
    assert load_records(run) == []
    stub.competitions[SLUG].rules_accepted = True  # joined on the rules page: the same command goes on
    assert submit() == 0
    assert len(load_records(run)) == 1 and len(stub.calls("StartSubmissionUpload")) == 1


# ---------- defect 6: uploads and answers that do not come ----------


def test_upload_retries_are_visible_and_then_succeed(toy, stub: KaggleStub, no_sleep, capsys) -> None:
    run = make_run("20250101-100000")
    stub.put_failures = [503, 503]
    assert submit() == 0
    err = capsys.readouterr().err
    retries = [line for line in err.splitlines() if "retry" in line]
    assert len(retries) == 2 and "storage answered 503; retry 1/3" in retries[0]
    assert no_sleep == [2.0, 4.0] and len(load_records(run)) == 1
    uploads = stub.calls("upload")
    assert len(uploads) == 3 and all("Authorization" not in r["headers"] for r in uploads)


def test_stalled_upload_times_out_with_one_line_per_retry(toy, stub: KaggleStub, no_sleep, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PIPELINE_KAGGLE_TIMEOUT", "0.3")
    run = make_run("20250101-100000")
    stub.stall.add("upload")
    assert submit() == 2
    err = capsys.readouterr().err
    assert sum("no answer in 0.3 s; retry" in line for line in err.splitlines()) == 3
    assert "Could not submit" in err and "nothing was submitted" in err
    assert stub.calls("CreateSubmission") == [] and load_records(run) == []


def test_lost_create_answer_is_confirmed_from_the_list(toy, stub: KaggleStub, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PIPELINE_KAGGLE_TIMEOUT", "0.5")
    run = make_run("20250101-100000")
    stub.drop_answer.add("CreateSubmission")
    assert submit() == 0
    assert "confirmed from the submission list" in capsys.readouterr().out
    [rec] = load_records(run)
    assert rec["ref"] == 1000 and rec["file"] == "20250101-100000.csv"


def test_lost_answer_unconfirmed_says_check_before_resubmitting(toy, stub: KaggleStub, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PIPELINE_KAGGLE_TIMEOUT", "0.3")
    run = make_run("20250101-100000")
    stub.drop_answer.add("CreateSubmission")
    stub.stall.add("ListSubmissions")
    assert submit() == 2
    err = capsys.readouterr().err
    assert "no answer in 0.3 s" in err and "may or may not have been made" in err
    assert "python -m pipeline submissions competitions/toy" in err and "another slot" in err
    assert load_records(run) == []


def test_bad_timeout_setting_is_refused_before_any_request(toy, stub: KaggleStub, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PIPELINE_KAGGLE_TIMEOUT", "soon")
    make_run("20250101-100000")
    assert submit() == 2
    assert "PIPELINE_KAGGLE_TIMEOUT='soon'" in capsys.readouterr().err and stub.requests == []


# ---------- defect 7: limits, moved data, scoring errors ----------


def test_submissions_left_is_unknown_for_a_user_not_on_a_team(toy, stub: KaggleStub, capsys) -> None:
    stub.competitions[SLUG].on_team = False  # the server answers all-zero limits
    make_run("20250101-100000")
    assert submit() == 0  # zero "left" did not block the first submission
    out = capsys.readouterr().out
    assert "Submissions left today: unknown" in out and "0 submissions left" not in out
    assert submit() == 0  # now on a team: the figure is known
    assert "3 submissions left today" in capsys.readouterr().out


def test_limits_endpoint_rate_limited_does_not_block(toy, stub: KaggleStub, capsys) -> None:
    make_run("20250101-100000")
    stub.rate_limited["GetSubmissionLimits"] = 1
    assert submit() == 0
    assert "Submissions left today: unknown (Kaggle did not say)" in capsys.readouterr().out


def test_submit_falls_back_to_data_slug_when_the_recorded_folder_moved(toy, stub: KaggleStub, capsys) -> None:
    run = make_run("20250101-100000", data_dir=Path("elsewhere") / "gone")
    assert submit() == 0
    captured = capsys.readouterr()
    assert "has moved" in captured.err and f"data/{SLUG}" in captured.err
    assert len(load_records(run)) == 1
    (Path("data") / SLUG / "sample_submission.csv").unlink()
    (Path("data") / SLUG).rmdir()
    assert submit() == 2
    assert "python -m pipeline download competitions/toy" in capsys.readouterr().err


def test_scoring_error_is_kept_in_the_records_and_shown(toy, stub: KaggleStub, no_sleep, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    run = make_run("20250101-100000")
    reason = "Submission file has 2 rows; expected 3"
    stub.competitions[SLUG].outcome = {"status": "ERROR", "errorDescription": reason}
    assert submit("--wait") == 2
    err = capsys.readouterr().err
    assert reason in err and "slot is spent" in err
    [rec] = load_records(run)
    assert rec["status"] == "ERROR" and rec["error"] == reason and rec["public_score"] is None
    assert cli.main(["submissions", "competitions/toy"]) == 0
    assert reason in capsys.readouterr().out
    assert load_records(run)[0]["error"] == reason  # the refresh keeps it


# ---------- submit --wait ----------


def test_submit_wait_prints_lb_beside_cv_and_runs_shows_it(toy, stub: KaggleStub, no_sleep, capsys) -> None:
    run = make_run("20250101-100000", cv=0.1234)
    stub.competitions[SLUG].outcome = {"status": "COMPLETE", "publicScore": "0.1301", "privateScore": "0.1299"}
    stub.competitions[SLUG].pending_polls = 3
    assert submit("--wait") == 0
    captured = capsys.readouterr()
    assert "CV rmse 0.1234  |  LB public 0.1301  private 0.1299" in captured.out
    progress = [line for line in captured.err.splitlines() if line.startswith("waiting for Kaggle")]
    assert len(progress) == 3 and all("PENDING" in line for line in progress)
    assert no_sleep == [3.0, 4.5, 6.75]  # backoff between polls
    [rec] = load_records(run)
    assert rec["status"] == "COMPLETE" and rec["public_score"] == 0.1301 and rec["private_score"] == 0.1299
    assert cli.main(["runs"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "20250101-100000" in line)
    assert "0.12340" in row and "0.13010 / 0.12990" in row


def test_submit_wait_gives_up_after_timeout_and_keeps_the_submission(toy, stub: KaggleStub, no_sleep, capsys) -> None:
    run = make_run("20250101-100000")
    assert submit("--wait", "--timeout", "20") == 0  # never scored (outcome None)
    out = capsys.readouterr().out
    assert "Not scored yet after 20 s" in out and "submissions competitions/toy" in out
    assert sum(no_sleep) == 20.0 and load_records(run)[0]["status"] == "PENDING"
    assert cli.main(["runs"]) == 0
    assert "pending" in next(line for line in capsys.readouterr().out.splitlines() if "20250101-100000" in line)


def test_submit_wait_rides_out_a_rate_limited_poll(toy, stub: KaggleStub, no_sleep, capsys) -> None:
    run = make_run("20250101-100000")
    stub.competitions[SLUG].outcome = {"status": "COMPLETE", "publicScore": "0.2"}
    stub.rate_limited["ListSubmissions"] = 1
    assert submit("--wait") == 0
    captured = capsys.readouterr()
    assert "rate limiting" in captured.err and "LB public 0.2" in captured.out
    assert load_records(run)[0]["public_score"] == 0.2


# ---------- defect 3: every page ----------


def test_submissions_sees_all_120_and_every_run_gets_its_score(toy, stub: KaggleStub, capsys) -> None:
    comp = stub.competitions[SLUG]
    stub.add_submissions(SLUG, 120)  # refs 5000.. newest first; 50 a page on the server
    runs = {i: make_run(f"20240101-{i:06d}") for i in (0, 75, 119)}
    for i in runs:  # made by these runs, found again by the run id in the message
        comp.submissions[i]["description"] = f"run 20240101-{i:06d} | CV rmse 0.1"
    assert cli.main(["submissions", "competitions/toy"]) == 0
    out = capsys.readouterr().out
    assert "120 submissions, 3 matched" in out
    calls = stub.calls("ListSubmissions")
    assert len(calls) == 3 and [json.loads(c["body"]).get("pageSize") for c in calls] == [100, 100, 100]
    assert [bool(json.loads(c["body"]).get("pageToken")) for c in calls] == [False, True, True]
    for i, run in runs.items():
        [rec] = load_records(run)
        assert rec["ref"] == 5000 + i and rec["public_score"] == float(f"{0.5 + i / 1000:.4f}")
