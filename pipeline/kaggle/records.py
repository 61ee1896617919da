"""Kaggle submissions recorded in run folders (kaggle_submissions.json) and matched to the list Kaggle returns.

kaggle_submissions.json is a JSON list, oldest first, of
    {"ref", "date", "message", "file", "status", "public_score", "private_score", "error"}
ref: Kaggle's submission id (null until known); date: ISO 8601 UTC; status: PENDING, COMPLETE or ERROR;
scores: floats or null; error: Kaggle's scoring error text or null. `submit` appends to it (`submit --wait` and
`submissions` refresh it); `runs` shows the latest leaderboard score.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from pipeline.atomic import read_json, write_json

RECORD_FILE = "kaggle_submissions.json"
FIELDS = ("ref", "date", "message", "file", "status", "public_score", "private_score", "error")


def load_records(run_dir: Path | str) -> list[dict[str, Any]]:
    """The submissions recorded in a run folder (empty when none or unreadable)."""
    path = Path(run_dir) / RECORD_FILE
    try:
        records = read_json(path)
    except (OSError, ValueError):
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def write_records(run_dir: Path | str, records: list[dict[str, Any]]) -> None:
    """Write a run folder's submission records atomically, oldest first, with exactly the documented keys."""
    clean = [{k: r.get(k) for k in FIELDS} for r in records]
    clean.sort(key=lambda r: r.get("date") or "")
    write_json(Path(run_dir) / RECORD_FILE, clean)


def add_record(run_dir: Path | str, record: dict[str, Any]) -> None:
    """Append one submission to a run folder's records."""
    write_records(run_dir, [*load_records(run_dir), record])


def update_record(run_dir: Path | str, sub: dict[str, Any]) -> None:
    """Replace the record of the same submission (by ref) with Kaggle's latest status, scores and error."""
    records = load_records(run_dir)
    fresh = {k: sub.get(k) for k in FIELDS}
    for rec in records:
        if _same(rec, sub):
            rec.update({k: v for k, v in fresh.items() if k not in ("date", "message", "file") or v})
            break
    else:
        records.append(fresh)
    write_records(run_dir, records)


def leaderboard(run_dir: Path | str) -> str:
    """The `runs` LB cell: the latest public score (with the private one once shown), or the latest state."""
    records = load_records(run_dir)
    for rec in reversed(records):
        public, private = rec.get("public_score"), rec.get("private_score")
        if isinstance(public, int | float):
            return f"{public:.5f}" + (f" / {private:.5f}" if isinstance(private, int | float) else "")
    latest = str(records[-1].get("status") or "").lower() if records else ""
    return latest if latest in ("pending", "error") else ""


def _mentions(text: str, run_id: str) -> bool:
    # A whole run id: not a prefix of a longer one ("...-120000" vs "...-120000.2" or "...-120000-tag").
    return re.search(rf"(?<![\w.-]){re.escape(run_id)}(?![\w-]|\.\d)", text) is not None


def match_runs(subs: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict | None]]:
    """Pair each Kaggle submission with the run that made it: by recorded ref, run id in the message, or file name."""
    by_ref: dict[int, dict] = {}
    for run in runs:
        for rec in load_records(run["run_dir"]):
            if rec.get("ref") is not None:
                by_ref[int(rec["ref"])] = run
    ordered = sorted(runs, key=lambda r: len(str(r.get("run_id") or Path(r["run_dir"]).name)), reverse=True)
    out = []
    for sub in subs:
        run = by_ref.get(sub["ref"]) if sub.get("ref") is not None else None
        for candidate in ordered if run is None else []:
            run_id = str(candidate.get("run_id") or Path(candidate["run_dir"]).name)
            if _mentions(sub.get("message") or "", run_id) or Path(sub.get("file") or "").stem == run_id:
                run = candidate
                break
        out.append((sub, run))
    return out


def _same(rec: dict[str, Any], sub: dict[str, Any]) -> bool:
    if rec.get("ref") is not None and sub.get("ref") is not None:
        return int(rec["ref"]) == int(sub["ref"])
    return rec.get("ref") is None and rec.get("file") == sub.get("file") and rec.get("message") == sub.get("message")


def refresh_records(matches: list[tuple[dict[str, Any], dict | None]]) -> int:
    """Update each matched run's kaggle_submissions.json with Kaggle's status and scores; the number of runs changed."""
    per_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sub, run in matches:
        if run is not None:
            per_run[str(run["run_dir"])].append(sub)
    changed = 0
    for run_dir, subs in per_run.items():
        records = load_records(run_dir)
        before = [dict(r) for r in records]
        for sub in subs:
            fresh = {k: sub.get(k) for k in FIELDS}
            for rec in records:
                if _same(rec, sub):
                    rec.update(fresh)
                    break
            else:
                records.append(fresh)
        if records != before:
            write_records(run_dir, records)
            changed += 1
    return changed
