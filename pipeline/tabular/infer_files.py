"""The download `python -m pipeline new` reads: its files (Kaggle's zip streamed, or a folder, with the files of the
zip and 7z archives at its top named as `run` extracts them), and the training table, the test table and the sample
submission picked from them by name unless given (--train, --test, --sample), read as Tables.

One Source serves the whole of `new` (holds_images' check, then the tabular or image inference): each CSV is parsed
once per way of reading it and each header read once (Source.read and Source.header keep what they read; every
caller gets its own copy, so none can change what another reads), and a file inside a 7z archive is extracted once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.headers import checked, named_twice, raw_header
from pipeline.tabular.values import AS_WRITTEN, comma_separated, text_in_train, unreadable

INNER = (".zip", ".7z")  # archives inside a download whose files `new` reads, as `run` extracts them


class Source:
    """The CSV files of a competition zip (streamed, nothing extracted) or folder, and the files of the zip and 7z
    archives at its top (train.csv.zip, train.csv.7z, as older competitions ship), named as `run` extracts them
    (pipeline.archives.extract_inner: next to the archive)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise ContractError(f"--data {path}: not a zip archive; give Kaggle's zip as downloaded or a folder.")
            with zipfile.ZipFile(path) as zf:
                self.names = sorted(n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX"))
        elif path.is_dir():
            self.names = sorted(
                str(p.relative_to(path).as_posix())
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            raise ContractError(f"--data {path}: no such file or folder.")
        self.inner: dict[str, str] = {}  # a file inside a top-level archive of the download -> that archive
        for archive in [n for n in self.names if "/" not in n and n.lower().endswith(INNER)]:
            try:
                members = self._members(archive)
            except Exception:  # not an archive after all (zipfile and py7zr raise several types): left as a file
                continue
            self.inner |= {m: archive for m in members if m not in self.names and m not in self.inner}
        self.names = sorted({*self.names, *self.inner})
        self._frames: dict[tuple[str, tuple[str, ...], bool], pd.DataFrame] = {}  # read's, by its arguments
        self._headers: dict[str, list[str]] = {}  # header's, by file
        self._unpacked: tempfile.TemporaryDirectory[str] | None = None  # the 7z members extracted so far (_from_7z)

    def _members(self, archive: str) -> list[str]:
        """The files of a zip or 7z archive at the download's top (its directory only is read)."""
        with self._open(archive) as f:
            if archive.lower().endswith(".7z"):
                import py7zr

                with py7zr.SevenZipFile(f, mode="r") as z:
                    names = [i.filename for i in z.list() if not i.is_directory]
            else:
                with zipfile.ZipFile(f) as zf:
                    names = [n for n in zf.namelist() if not n.endswith("/")]
        return [n for n in names if not n.startswith("__MACOSX")]

    @property
    def archives(self) -> set[str]:
        """The zips whose files are listed instead of them (a read-only folder's extraction holds only their files)."""
        return set(self.inner.values())

    @contextlib.contextmanager
    def _open(self, name: str) -> Iterator[IO[bytes]]:
        """One file of the download, streamed (a zip, or a zip inside it, is read from where it lies, not copied into
        memory whole: listing an inner zip reads only its directory)."""
        with contextlib.ExitStack() as stack:
            if name in self.inner and self.inner[name].lower().endswith(".7z"):
                yield stack.enter_context(self._from_7z(self.inner[name], name))
            elif name in self.inner:
                archive = stack.enter_context(self._open(self.inner[name]))
                yield stack.enter_context(stack.enter_context(zipfile.ZipFile(archive)).open(name))
            elif self.path.is_file():
                yield stack.enter_context(stack.enter_context(zipfile.ZipFile(self.path)).open(name))
            else:
                yield stack.enter_context((self.path / name).open("rb"))

    @contextlib.contextmanager
    def _from_7z(self, archive: str, name: str) -> Iterator[IO[bytes]]:
        """One file of a 7z archive, extracted the first time it is asked for (7z streams are solid: no member is read
        without decompressing what precedes it) into a temporary folder the Source keeps while it lives."""
        from pipeline.archives import safe_member

        if self._unpacked is None:
            self._unpacked = tempfile.TemporaryDirectory(prefix="new-7z-")  # removed with the Source, or at exit
        root = Path(self._unpacked.name)
        target = safe_member(root / "members", name, Path(archive))
        if not target.is_file():
            self._extract(archive, name, root, target)
        with target.open("rb") as out:
            yield out

    def _extract(self, archive: str, name: str, root: Path, target: Path) -> None:
        """Extract one member of a 7z archive of the download to `target`, through a folder of its own under `root`:
        whole or not at all (a failed extraction leaves nothing a later open would take for the file)."""
        import py7zr

        with tempfile.TemporaryDirectory(dir=root) as tmp:
            with self._open(archive) as f, py7zr.SevenZipFile(f, mode="r") as z:
                z.extract(path=tmp, targets=[name])
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(tmp) / name, target)

    def read(self, name: str, text: Sequence[str] = (), written: bool = False) -> pd.DataFrame:
        """One CSV as a DataFrame (`text` columns as written; `written`: every cell, no word such as None or NA read
        as missing and an empty cell "", as pipeline.vision.csv_images reads its CSVs), or an error naming it. Parsed
        once per (name, text, written): a copy of what was read, which the caller may change freely."""
        key = (name, tuple(sorted(set(text))), written)
        if key not in self._frames:
            self._frames[key] = self._parsed(name, text, written)
        return self._frames[key].copy()

    def _parsed(self, name: str, text: Sequence[str], written: bool) -> pd.DataFrame:
        """read's frame, parsed from the file."""
        how = {"dtype": str, "keep_default_na": False} if written else {"dtype": dict.fromkeys(text, str) or None}
        try:
            with self._open(name) as f:
                frame = pd.read_csv(f, compression=_compression(name), **how)
        except Exception as e:
            raise ContractError(f"{self.path}: {name} {unreadable(e)}") from None
        return comma_separated(frame, f"{self.path}: {name}")

    def as_written(self, name: str, columns: list[str]) -> pd.DataFrame:
        """Columns of one CSV with every cell as written, only an empty one missing (values.with_words)."""
        with self._open(name) as f:
            return pd.read_csv(f, usecols=columns, compression=_compression(name), **AS_WRITTEN)

    def header(self, name: str) -> list[str]:
        """One CSV's header row as written, no name renamed (headers.raw_header); read once per file."""
        if name not in self._headers:
            with self._open(name) as f:
                self._headers[name] = raw_header(f, _compression(name))
        return list(self._headers[name])

    def read_bytes(self, name: str) -> bytes:
        """One file of the download, whole (an image `new` looks at)."""
        with self._open(name) as f:
            return f.read()

    def copy(self, name: str, dest: Path) -> None:
        """One file of the download, byte for byte, to dest."""
        with self._open(name) as f, dest.open("wb") as out:
            shutil.copyfileobj(f, out)

    def size(self, name: str) -> int:
        """One file's size in bytes, uncompressed where an archive holds it (from the archive's directory; nothing is
        extracted)."""
        if name in self.inner:
            with self._open(self.inner[name]) as f:
                if self.inner[name].lower().endswith(".7z"):
                    import py7zr

                    with py7zr.SevenZipFile(f, mode="r") as z:
                        return next(int(i.uncompressed) for i in z.list() if i.filename == name)
                with zipfile.ZipFile(f) as zf:
                    return zf.getinfo(name).file_size
        if self.path.is_file():
            with zipfile.ZipFile(self.path) as zf:
                return zf.getinfo(name).file_size
        return (self.path / name).stat().st_size

    def csvs(self) -> list[str]:
        """The download's CSVs, compressed ones (train.csv.gz) included: pandas reads those as they are."""
        return [n for n in self.names if n.lower().endswith((".csv", *(f".csv{end}" for end in COMPRESSED)))]


# compressed CSVs a download may hold, by the end of their names, as pandas names the compression
COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}


def _compression(name: str) -> str | None:
    """How a CSV of the download is compressed, from its name: Source reads streams, whose names pandas never sees."""
    return next((c for end, c in COMPRESSED.items() if name.lower().endswith(end)), None)


@dataclass
class Tables:
    """The three CSVs `new` reads: their names inside the download and their frames."""

    train: str
    test: str
    sample: str
    tr: pd.DataFrame
    te: pd.DataFrame
    sub: pd.DataFrame
    twice: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # per file: headers.named_twice


SAMPLE_WORDS = ("sample_submission", "submission", "sample")  # how a sample submission's file is named


def unclear(what: str, flag: str) -> ContractError:
    """A refusal that names the flag settling what could not be inferred."""
    return ContractError(f"{what} Name it with {flag}.")


def _parquet(source: Source) -> ContractError:
    """The refusal of a download whose tables are Parquet (train.parquet, as some recent competitions ship): pandas
    reads them only with pyarrow, which the project does not install; the message names them and says how to write
    each as the CSV `new` reads."""
    names = [n for n in source.names if n.lower().endswith(".parquet")]
    first = PurePosixPath(names[0])
    convert = f"pd.read_parquet('{first}').to_csv('{first.with_suffix('.csv')}', index=False)"
    where = "the extracted folder" if source.path.is_file() else "that folder"
    return ContractError(
        f"{source.path}: its tables are Parquet ({listed(names, 4)}); `new` and `run` read CSV files. Write each as "
        f'a CSV beside it in {where} (pip install pyarrow, then python -c "import pandas as pd; {convert}") and '
        "pass the folder."
    )


def pick_csv(source: Source, role: str, words: tuple[str, ...], given: str | None, flag: str) -> str:
    """The CSV of the download that plays `role`: `given` (its flag's value) if any, else the one named
    `<words[0]>.csv`, else the one whose name holds one of `words`; refused naming `flag` when that is not one."""
    csvs = source.csvs()
    if given:
        if given not in source.names:
            raise ContractError(f"{flag} {given}: no such file in {source.path}; files: {', '.join(csvs)}.")
        if given.lower().endswith(".parquet"):
            raise _parquet(source)
        return given
    exact = [n for n in csvs if PurePosixPath(n).name.lower() == f"{words[0]}.csv"]
    if len(exact) == 1:
        return exact[0]
    found = [n for n in csvs if any(w in PurePosixPath(n).name.lower() for w in words)]
    if len(found) == 1:
        return found[0]
    parquet = [n for n in source.names if n.lower().endswith(".parquet") and words[0] in PurePosixPath(n).name.lower()]
    if not found and parquet:
        raise _parquet(source)
    what = "none" if not found else f"several ({', '.join(found)})"
    raise unclear(
        f"{source.path}: cannot tell which CSV is the {role}: {what} among {', '.join(csvs) or 'no CSV files'}.",
        f"{flag} FILE",
    )


def read_tables(source: Source, train: str | None, test: str | None, sample: str | None) -> Tables:
    """The training table, the test table and the sample submission, picked by name unless given."""
    train_f = pick_csv(source, "training table", ("train",), train, "--train")
    test_f = pick_csv(source, "test table", ("test",), test, "--test")
    sample_f = pick_csv(source, "sample submission", SAMPLE_WORDS, sample, "--sample")
    t = Tables(train_f, test_f, sample_f, source.read(train_f), source.read(test_f), source.read(sample_f))
    if as_text := text_in_train(t.tr, t.te):  # as pipeline.tabular.load_tables reads them
        t.te = source.read(test_f, text=as_text)
    if t.sub.shape[1] < 2:
        raise ContractError(f"{sample_f}: a sample submission needs an id column and at least one value column.")
    for name, frame in ((train_f, t.tr), (test_f, t.te), (sample_f, t.sub)):
        t.twice[name] = named_twice(frame.columns, lambda name=name: source.header(name))
    sample_cols = [str(c) for c in t.sub.columns]  # each the id or a value the submission writes under that name
    checked(t.twice[sample_f], sample_f, [("id", sample_cols[0]), *(("value column", c) for c in sample_cols[1:])])
    return t
