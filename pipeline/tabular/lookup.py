"""A submission asked through a lookup table (Facial Keypoints Detection): the sample holds `RowId,Location`, and a
lookup CSV (IdLookupTable.csv: `RowId,ImageId,FeatureName,Location`) says which target of which test row each RowId
asks; not every target of every test row is asked. The model predicts every target of every test row (rows x
targets); write_lookup picks the asked ones, in the sample's order. Scored by present_rmse: the RMSE over the values
present (a training row marks some targets only: the others are NaN and count nowhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract import ContractError, Data
from pipeline.submission import ValueRule, validate_submission
from pipeline.tabular.values import id_order, read_csv


@dataclass(frozen=True)
class Lookup:
    """The lookup CSV `file`: its `row_id` column holds the sample's ids, `id` a test row's id (a column of test.csv)
    and `target` the name of the target column that row asks for. `clip`: the range every value is cut to (the
    image's side for keypoints); None: none."""

    file: str
    row_id: str
    id: str
    target: str
    clip: tuple[float, float] | None = None

    def read(self, data_dir: Path) -> pd.DataFrame:
        """The lookup's three columns as text, each row naming a sample id, a test id and a target; a missing column
        or an empty cell is refused naming the file and the column (and the line)."""
        path = Path(data_dir) / self.file
        if not path.is_file():
            raise ContractError(f"{path}: no such file; LOOKUP names the CSV saying which value each sample row asks.")
        frame = read_csv(path, text=[self.row_id, self.id, self.target])
        columns = (self.row_id, self.id, self.target)
        if absent := [c for c in columns if c not in frame.columns]:
            raise ContractError(f"{path}: no column {absent[0]!r}; columns: {', '.join(map(str, frame.columns))}.")
        frame = frame[list(columns)]
        empty = frame.isna().any(axis=1).to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            column = next(c for c in columns if pd.isna(frame[c].iloc[row]))
            raise ContractError(f"{path}: line {row + 2} has no {column}.")
        return frame.apply(lambda c: c.str.strip())

    def cells(self, data_dir: Path, test_ids: np.ndarray, targets: list[str]) -> pd.DataFrame:
        """For each lookup row, its sample id and where its value lies among the predictions (`row`: the test row,
        `column`: the target). A test id that no test row has, or a name that is no target, is refused naming the
        file, the line and the value."""
        frame, path = self.read(data_dir), Path(data_dir) / self.file
        rows = _positions(frame[self.id], test_ids)
        columns = frame[self.target].map({t: j for j, t in enumerate(targets)})
        for what, found, values in (("test id", rows, frame[self.id]), ("target", columns, frame[self.target])):
            if (bad := np.flatnonzero(found.isna().to_numpy())).size:
                among = "the test rows' ids" if what == "test id" else f"the targets ({', '.join(targets[:10])} ...)"
                raise ContractError(
                    f"{path}: line {bad[0] + 2}: {what} {values.iloc[bad[0]]!r} is not one of {among}; "
                    f"{bad.size} such rows."
                )
        return pd.DataFrame({"row_id": frame[self.row_id], "row": rows.astype(int), "column": columns.astype(int)})

    def check_sample(self, data_dir: Path, sample: Path, test_ids: np.ndarray, targets: list[str]) -> None:
        """Every id of the sample is a lookup row whose test row and target are known (cells), checked as the tables
        are read, before any model is fitted."""
        cells = self.cells(data_dir, test_ids, targets)
        sample_ids = read_csv(sample, text=[0]).iloc[:, 0]
        if id_order(cells["row_id"], sample_ids) is None:
            raise ContractError(
                f"{sample}: its ids are not those of {self.file}'s {self.row_id} column (one missing there, or "
                f"{self.row_id} repeats one); the lookup says which value each sample row asks."
            )


def _positions(ids: pd.Series, test_ids: np.ndarray) -> pd.Series:
    """Each id's row among test_ids (NaN where none), matched as text, else as the same number (007 and 7)."""
    test = pd.Series(test_ids).astype(str).str.strip()
    first = ~test.duplicated().to_numpy()
    found = ids.map(pd.Series(np.arange(len(test))[first], index=test.to_numpy()[first]))
    if found.isna().any():
        numbers = pd.to_numeric(test, errors="coerce")
        kept = first & numbers.notna().to_numpy() & ~numbers.duplicated().to_numpy()
        by_number = pd.Series(np.arange(len(test))[kept], index=numbers.to_numpy()[kept])
        found = found.fillna(pd.to_numeric(ids, errors="coerce").map(by_number))
    return found


def write_lookup(data: Data, pred: np.ndarray, path: Path, lookup: Lookup) -> None:
    """The sample's header and ids in its order, each value the prediction of the test row and target its lookup row
    asks, cut to `lookup.clip`."""
    targets = list((data.info or {}).get("targets") or [])
    pred = np.asarray(pred, dtype=float).reshape(len(data.test_ids), len(targets))
    cells = lookup.cells(Path(data.data_dir), data.test_ids, targets)
    sample = read_csv(Path(data.sample_submission), text=[0])
    order = id_order(cells["row_id"], sample.iloc[:, 0])
    if order is None:
        raise ContractError(f"{data.sample_submission}: its ids are not those of {lookup.file}'s {lookup.row_id}.")
    values = pred[cells["row"].to_numpy()[order], cells["column"].to_numpy()[order]]
    if lookup.clip is not None:
        values = np.clip(values, *lookup.clip)
    out = pd.DataFrame({sample.columns[0]: sample.iloc[:, 0].astype(str).to_numpy(), sample.columns[1]: values})
    out.to_csv(path, index=False)


def validate_lookup(data: Data, path: Path, lookup: Lookup) -> None:
    """The CSV check against the sample (header, ids and order, numbers), each value within `lookup.clip`."""
    sample = read_csv(Path(data.sample_submission))
    rules = None
    if lookup.clip is not None:
        why = "LOOKUP's clip: a keypoint lies on the image"
        rules = {c: ValueRule(*lookup.clip, why=why) for c in sample.columns[1:]}
    validate_submission(path, data.sample_submission, rules=rules)


def present_rmse(y_true: np.ndarray, pred: np.ndarray) -> float:
    """The root mean squared error over the values present in y_true (NaN: not marked, not scored), as Kaggle scores
    the values a lookup asks: one pool of every (row, target) scored, not a mean over the targets."""
    y = np.asarray(y_true, dtype=float)
    pred = np.asarray(pred, dtype=float).reshape(y.shape)
    present = ~np.isnan(y)
    if not present.any():
        return float("nan")
    return float(np.sqrt(np.mean((y[present] - pred[present]) ** 2)))
