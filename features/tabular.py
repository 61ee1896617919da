"""One encoder for any raw table, per model family, fitted inside each training fold.

    numeric           as is for trees (NaN kept); median + missing flag, signed log of skewed columns, held within
                      the training rows' range (as trees hold a value beyond it at their last split), standardised
                      for linear models
    category          pandas categories for LightGBM/XGBoost, strings for CatBoost, one-hot for linear models
    high_cardinality  frequency, length and trailing number, first character as a category, word tokens, and an
                      out-of-fold target encoding (CatBoost gets the raw string: it target-encodes in order itself);
                      a code made of parts ("B/0/P", "0013_02": one separator, the same number of parts in 90% of
                      the values) also gives each part: a number, or a category when it has few levels
    text              word tokens (binary, frequent ones only), length and word count
    date              year, month, day, weekday and days since 1970; the hour too where the column has times (each
                      column read in one format, day-first where its values are, two where it is written in two
                      styles: features/dates.py)
    constant          dropped

`sources_` maps each output column to the input column it comes from (for importances per input column). An
engineered feature named as an input column (`d__year` of a date column `d` beside a column `d__year` of the table)
takes a numbered suffix (`d__year_2`): both are kept, each counted to its own input column.

Target encoding is cross-fitted on the training rows (scikit-learn's TargetEncoder in fit_transform), so a row's
encoding never saw its own target; rows predicted later use the encoding fitted on all training rows. Output
column names keep letters, digits and _ only (safe_names: "Blood Pressure [mmHg]" -> Blood_Pressure_mmHg_), as
LightGBM and XGBoost require.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import OneHotEncoder, TargetEncoder

from features.columns import infer_kinds
from features.dates import MIXED, date_format, parse_dates

FAMILIES = ("linear", "lightgbm", "xgboost", "catboost")
MISSING = "__missing__"
TASK_TARGET = {"regression": "continuous", "binary": "binary", "multiclass": "multiclass"}


def named_frame(X: Any) -> pd.DataFrame:
    """The rows as a DataFrame with text column names (an array's columns 0, 1, ... become "0", "1", ...)."""
    X = pd.DataFrame(X).reset_index(drop=True)
    if not all(isinstance(c, str) for c in X.columns):
        X.columns = [str(c) for c in X.columns]
    return X


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class TabularEncoder(TransformerMixin, BaseEstimator):
    """Raw DataFrame -> model-ready features for one family (`linear`, `lightgbm`, `xgboost`, `catboost`)."""

    family: str = "lightgbm"
    task: str = "regression"
    max_levels: int = 30
    max_tokens: int = 30
    min_token_share: float = 0.01
    target_encoding: bool = True
    clip: bool = True  # linear family: hold each numeric feature within the training rows' range
    random_state: int = 0

    # ---- fitting
    def fit(self, X: pd.DataFrame, y: Any = None) -> TabularEncoder:
        """Learn column kinds, levels, fills, vocabularies and encodings on the training rows."""
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **_: Any) -> Any:
        """Fit, and return the training rows encoded (target encoding cross-fitted: no row sees its own target)."""
        if self.family not in FAMILIES:
            raise ValueError(f"TabularEncoder: family must be one of {FAMILIES}, got {self.family!r}.")
        X = named_frame(X)
        self.kinds_ = infer_kinds(X, self.max_levels)
        self.date_formats_ = {c: date_format(X[c]) for c, k in self.kinds_.items() if k == "date"}
        self.timed_ = [c for c, f in self.date_formats_.items() if _has_times(parse_dates(X[c], f))]
        self.feature_names_in_ = list(X.columns)
        strings = [c for c, k in self.kinds_.items() if k in ("high_cardinality", "text")]
        min_df = max(3, int(np.ceil(self.min_token_share * len(X))))
        self.vocab_ = {}
        for c in strings:
            if (vec := fit_vocabulary(as_text(X[c]), min_df, self.max_tokens)) is not None:
                self.vocab_[c] = vec
        high = [c for c, k in self.kinds_.items() if k == "high_cardinality"]
        self.freq_ = {c: X[c].astype(str).value_counts(normalize=True).to_dict() for c in high}
        self.parts_ = {c: found for c in high if (found := code_parts(X[c], self.max_levels))}
        self.unique_parts_ = True  # an engineered part never takes an input column's name (_base)
        base = self._base(X)
        self.levels_ = {c: sorted(base[c].unique()) for c in self._categorical(base)}
        self.te_cols_ = high if self.target_encoding and self.family != "catboost" and y is not None else []
        te_train = None
        if self.te_cols_:
            splitter = KFold if self.task == "regression" else StratifiedKFold
            cv = splitter(5, shuffle=True, random_state=self.random_state)
            self.te_ = TargetEncoder(target_type=TASK_TARGET[self.task], cv=cv)
            te_train = self.te_.fit_transform(self._te_input(X), np.asarray(y))
            self.te_names_ = _unique_names(
                [f"te__{n}" for n in self.te_.get_feature_names_out()], base.columns, self.kinds_
            )
        numeric = [c for c in base.columns if c not in self.levels_]
        num = base[numeric].astype(float)
        self.medians_ = num.median().fillna(0.0).to_dict()
        self.flags_ = [c for c in numeric if num[c].isna().any()]
        filled = num.fillna(self.medians_)
        skew = filled.skew().fillna(0.0)
        self.logged_ = [c for c in numeric if abs(skew[c]) > 1.0 and filled[c].nunique() > 2]
        if self.family == "linear":
            self.onehot_ = OneHotEncoder(handle_unknown="ignore", sparse_output=False, min_frequency=5)
            if self.levels_:
                self.onehot_.fit(base[list(self.levels_)])
            lin = self._linear_numeric(base, te_train)
            self.mean_, self.std_ = lin.mean(axis=0), lin.std(axis=0) + 1e-9
            self.low_, self.high_ = lin.min(axis=0), lin.max(axis=0)
        self.names_ = safe_names([*base.columns, *self._te_names()])
        self.sources_ = {self.names_[n]: source_column(n, self.feature_names_in_) for n in self.names_}
        return self._finish(base, te_train)

    # ---- transforming
    def transform(self, X: pd.DataFrame) -> Any:
        """Encode new rows with what was learned on the training rows."""
        X = named_frame(X)
        base = self._base(X)
        te = self.te_.transform(self._te_input(X)) if self.te_cols_ else None
        return self._finish(base, te)

    @property
    def cat_features_(self) -> list[str]:
        """Columns CatBoost treats as categorical (their output names)."""
        names = getattr(self, "names_", {})
        return [names.get(c, c) for c in self.levels_]

    def by_input_column(self, encoded: pd.Series) -> np.ndarray:
        """Values per output column (a model's importance shares, indexed by the encoded names) summed per input
        column, in feature_names_in_'s order (sources_); 0 for an input column that gave no output."""
        by_column = encoded.groupby(encoded.index.map(lambda n: self.sources_.get(n, n))).sum()
        return by_column.reindex(self.feature_names_in_, fill_value=0.0).to_numpy(dtype=float)

    def _te_input(self, X: pd.DataFrame) -> pd.DataFrame:
        return X[self.te_cols_].astype(str).fillna(MISSING)

    def _categorical(self, base: pd.DataFrame) -> list[str]:
        return [c for c in base.columns if base[c].dtype == object or pd.api.types.is_string_dtype(base[c])]

    def _base(self, X: pd.DataFrame) -> pd.DataFrame:
        """Every column as numbers or strings (categories as strings with a missing level), engineered parts added.
        An engineered part named as an input column is (`d__year` of a date column `d` beside a column `d__year`), or
        as a part made before it, gets a numbered suffix (`d__year_2`): both stay, each with its own name."""
        out: dict[str, Any] = {}
        inputs = set(self.kinds_)
        apart = getattr(self, "unique_parts_", False)  # encoders fitted before it keep the names they fitted
        for c, kind in self.kinds_.items():
            for name, values in self._column_features(X, c, kind).items():
                out[_unique_name(name, inputs, out) if apart and name != c else name] = values
        return pd.DataFrame(out, index=X.index)

    def _column_features(self, X: pd.DataFrame, c: str, kind: str) -> dict[str, Any]:
        """The features of input column c of `kind` (_base): itself, or its engineered parts named `<c>__<part>`."""
        s = X[c] if c in X else pd.Series(np.nan, index=X.index)
        if kind == "numeric":  # inf and -inf are missing values too: no mean or scale survives them
            return {c: pd.to_numeric(s, errors="coerce").astype(float).replace([np.inf, -np.inf], np.nan)}
        if kind == "category":
            return {c: s.astype(str).where(s.notna(), MISSING).astype(object)}
        out: dict[str, Any] = {}
        if kind == "date":
            d = parse_dates(s, getattr(self, "date_formats_", {}).get(c, MIXED))  # one format per column
            timed = c in getattr(self, "timed_", ())  # encoders fitted before timed_ have no hour
            for part in ("year", "month", "day", "day_of_week", *(("hour",) if timed else ())):
                out[f"{c}__{part}"] = getattr(d.dt, part).astype(float)
            out[f"{c}__days"] = (d - pd.Timestamp("1970-01-01")).dt.days.astype(float)
        elif kind in ("high_cardinality", "text"):
            distinct, rows = _distinct(s)
            for name, values in self._string_features(c, kind, distinct).items():
                out[name] = pd.Series(np.asarray(values)[rows], index=X.index)
        return out

    def _string_features(self, c: str, kind: str, s: pd.Series) -> dict[str, Any]:
        """The features of a code or text column's values s. `_base` computes them once per distinct value and
        spreads them to the rows: a code repeats (3000 values over a million rows), and string work is slow."""
        out: dict[str, Any] = {}
        text = as_text(s)
        out[f"{c}__len"] = text.str.len().astype(float)
        out[f"{c}__words"] = text.str.split().str.len().astype(float)
        if kind == "high_cardinality":
            out[f"{c}__freq"] = s.astype(str).map(self.freq_[c]).astype(float).fillna(0.0)
            number = text.str.extract(r"(\d+)\D*$")[0]
            out[f"{c}__number"] = pd.to_numeric(number, errors="coerce").astype(float)
            out[f"{c}__first"] = text.str[:1].where(s.notna(), MISSING).astype(object)
            out |= _split_parts(c, s, getattr(self, "parts_", {}).get(c))  # none before parts_ existed
            if self.family == "catboost":
                out[c] = s.astype(str).where(s.notna(), MISSING).astype(object)
        if c in self.vocab_:
            vec = self.vocab_[c]
            tokens = vec.transform(text).toarray().astype(float)
            for j, tok in enumerate(vec.get_feature_names_out()):
                out[f"{c}__has_{tok}"] = tokens[:, j]
        return out

    def _te_names(self) -> list[str]:
        if not self.te_cols_:
            return []
        if hasattr(self, "te_names_"):
            return self.te_names_
        return [f"te__{n}" for n in self.te_.get_feature_names_out()]  # encoders fitted before te_names_

    def _linear_numeric(self, base: pd.DataFrame, te: np.ndarray | None) -> np.ndarray:
        numeric = [c for c in base.columns if c not in self.levels_]
        num = base[numeric].astype(float)
        flags = num[self.flags_].isna().astype(float).to_numpy()
        num = num.fillna(self.medians_)
        for c in self.logged_:
            num[c] = np.sign(num[c]) * np.log1p(np.abs(num[c]))
        parts = [num.to_numpy(dtype=float), flags]
        if te is not None:
            parts.append(np.asarray(te, dtype=float))
        return np.hstack(parts)

    def _finish(self, base: pd.DataFrame, te: np.ndarray | None) -> Any:
        if self.family == "linear":
            lin = self._linear_numeric(base, te)
            if self.clip and hasattr(self, "low_"):  # held within the training rows' range: a line extrapolates
                lin = np.clip(lin, self.low_, self.high_)
            lin = (lin - self.mean_) / self.std_
            if self.levels_:
                lin = np.hstack([lin, self.onehot_.transform(base[list(self.levels_)])])
            return np.clip(lin, -10, 10)
        out = base.copy()
        for c, levels in self.levels_.items():
            if self.family == "catboost":
                out[c] = out[c].astype(str)
            else:
                known = out[c].where(out[c].isin(levels))  # levels unseen in training become missing
                out[c] = pd.Categorical(known, categories=levels)
        if te is not None:
            out = pd.concat([out, pd.DataFrame(np.asarray(te), columns=self._te_names(), index=out.index)], axis=1)
        return out.rename(columns=getattr(self, "names_", {}))  # encoders fitted before names_ keep raw names


SEPARATORS = ("/", "_", "-", "|", ":", " ")


def code_parts(s: pd.Series, max_levels: int, share: float = 0.9) -> tuple[str, list[str]] | None:
    """How a code column splits into parts, or None: the first separator that splits at least `share` of the
    non-missing values into the same number (2 to 4) of non-empty parts, and each part's kind: "number" when
    `share` of its values parse as numbers, "category" when it has at most `max_levels` values, else "skip".
    Shares count rows; each distinct value is split once and weighted by its count."""
    counts = s.dropna().astype(str).value_counts(sort=False)
    if counts.empty:
        return None
    text, weight = pd.Series(counts.index, dtype=object), counts.to_numpy()
    for sep in SEPARATORS:
        pieces = text.str.split(sep, regex=False)
        n_parts = pieces.str.len().to_numpy()
        rows_per_k = pd.Series(weight).groupby(n_parts).sum()
        k = int(rows_per_k[rows_per_k == rows_per_k.max()].index.min())  # the most common count, the smallest if tied
        same = n_parts == k
        if not 2 <= k <= 4 or weight[same].sum() / weight.sum() < share:
            continue
        table = pd.DataFrame(pieces[same].tolist())
        if (table == "").any().any():
            continue
        w = weight[same]
        kinds = []
        for j in range(k):
            numbers = pd.to_numeric(table[j], errors="coerce")
            if w[numbers.notna().to_numpy()].sum() / w.sum() >= share:
                kinds.append("number")
            else:
                kinds.append("category" if table[j].nunique() <= max_levels else "skip")
        if any(kind != "skip" for kind in kinds):
            return sep, kinds
    return None


TOKENS = r"(?u)\b[^\W\d_]{2,}\b"  # words of two letters or more


def fit_vocabulary(text: pd.Series, min_df: int, max_tokens: int) -> CountVectorizer | None:
    """A binary CountVectorizer holding the tokens that CountVectorizer(binary=True, min_df=min_df,
    max_features=max_tokens) keeps when fitted on the rows of text, or None when it keeps none. Each distinct value
    is tokenised once; a token's document frequency is the sum of the counts of the values holding it, and ties at
    the max_tokens cut are broken as scikit-learn breaks them (the same argsort over the same sorted vocabulary)."""
    if len(text) < min_df:
        return None
    counts = text.value_counts(sort=False)
    full = CountVectorizer(binary=True, token_pattern=TOKENS)
    try:
        present = full.fit_transform(counts.index.astype(str))
    except ValueError:  # no token at all
        return None
    dfs = np.asarray(present.T @ counts.to_numpy(dtype=np.int64)).ravel()
    mask = dfs >= min_df
    if mask.sum() > max_tokens:
        order = (-dfs[mask]).argsort()[:max_tokens]
        mask = np.zeros(len(dfs), dtype=bool)
        mask[np.flatnonzero(dfs >= min_df)[order]] = True
    if not mask.any():
        return None
    names = full.get_feature_names_out()
    return CountVectorizer(binary=True, token_pattern=TOKENS, vocabulary=list(names[mask])).fit(names[mask])


def as_text(s: pd.Series) -> pd.Series:
    """A column's values as strings, a missing one as the empty string (a column read as all missing is float: pandas
    refuses to fill it with a string)."""
    return s.astype(object).where(s.notna(), "").astype(str)


def _distinct(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The distinct values of s (with its missing value last, when it has one) and each row's position among them."""
    rows, uniques = pd.factorize(s)
    distinct = pd.Series(uniques, dtype=s.dtype)
    missing = rows < 0
    if missing.any():
        distinct = pd.concat([distinct, s[missing].iloc[:1]], ignore_index=True)
        rows = np.where(missing, len(distinct) - 1, rows)
    return distinct, rows


def _split_parts(column: str, s: pd.Series, parts: tuple[str, list[str]] | None) -> dict[str, pd.Series]:
    """The parts of a code column (code_parts' plan), as numbers or category strings; a value that does not split
    into the plan's number of parts gets missing parts."""
    if parts is None:
        return {}
    sep, kinds = parts
    pieces = s.astype(str).str.split(sep, regex=False)
    ok = s.notna() & (pieces.str.len() == len(kinds))
    out: dict[str, pd.Series] = {}
    for j, kind in enumerate(kinds):
        part = pieces.str[j].where(ok)
        if kind == "number":
            out[f"{column}__part{j}"] = pd.to_numeric(part, errors="coerce").astype(float)
        elif kind == "category":
            out[f"{column}__part{j}"] = part.where(ok, MISSING).astype(object)
    return out


def _unique_name(name: str, inputs: Collection[str], taken: Collection[str]) -> str:
    """`name`, or `name_2`, `name_3`, ... when an input column or a feature made before it has that name."""
    candidate, k = name, 2
    while candidate in inputs or candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    return candidate


def _unique_names(names: list[str], taken: Collection[str], inputs: Collection[str]) -> list[str]:
    """`names` (the target encodings'), each made unique (_unique_name) among the input columns, the features
    `taken` and the names before it."""
    out: list[str] = []
    for name in names:
        out.append(_unique_name(name, inputs, {*taken, *out}))
    return out


def source_column(name: str, columns: list[str]) -> str:
    """The input column an encoded feature comes from: itself, `te__<col>...` (target encoding) or `<col>__...`
    (the longest input name that prefixes it), else the name itself."""
    if name in columns:  # an input column named te__<col> is itself
        return name
    raw = name.removeprefix("te__")
    if raw in columns:
        return raw
    matches = [c for c in columns if raw.startswith(f"{c}__") or (raw != name and raw.startswith(f"{c}_"))]
    return max(matches, key=len) if matches else name


def _has_times(d: pd.Series) -> bool:
    """Whether parsed dates hold times of day (2016-01-05 13:45), not only dates."""
    d = d.dropna()
    return bool((d != d.dt.normalize()).any())


def safe_names(columns: list[str]) -> dict[str, str]:
    """Output names LightGBM and XGBoost accept: each run of characters other than letters, digits and _ becomes _
    (LightGBM refuses JSON's [ ] { } " : , in names, XGBoost [ ] <), made unique with a numbered suffix."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for c in columns:
        name = base = re.sub(r"[^\w]+", "_", str(c)) or "_"
        k = 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        out[c] = name
        taken.add(name)
    return out
