"""Load a dataset from the Hugging Face hub or a local folder in the hub's layout.

Both go through `datasets.load_dataset(path, name)`, so what is tested on a local parquet
folder is the code that downloads the real dataset for a user who is online.
"""

import re
from pathlib import Path

import numpy as np
from datasets import DatasetDict, load_dataset
from datasets.exceptions import DatasetGenerationError

from aelab.errors import AelabError

VALIDATION_SPLITS = ("validation", "valid", "val", "dev")


def looks_local(path: str) -> bool:
    """A path, not a hub id: starts like a path or names something on disk."""
    return path.startswith((".", "/", "~")) or Path(path).expanduser().exists()


def load_splits(path: str | None, name: str | None = None) -> DatasetDict:
    """All splits of `path` (hub id or local folder), with errors that say what to do."""
    if not path or path == "???":
        raise AelabError("data.path is not set: give a hub id (data.path=uoft-cs/cifar10) or a "
                         "local folder of parquet files (data.path=/data/my_images)")
    if looks_local(path):
        folder = Path(path).expanduser()
        if not folder.exists():
            raise AelabError(f"data.path={path} does not exist; give an existing folder of "
                             "parquet/image files in the hub's layout, or a hub id")
        path = str(folder.resolve())
    try:
        splits = load_dataset(path, name)
    except ConnectionError as err:
        raise AelabError(
            f"cannot reach the Hugging Face hub to download {path!r} and it is not cached "
            f"({err}). Run once online, use data=shapes (offline, procedural), or point "
            "data.path=<local folder> at a copy in the hub's parquet layout") from None
    except FileNotFoundError as err:
        raise AelabError(f"no dataset found at data.path={path}: {err}") from None
    except DatasetGenerationError as err:  # a file the builder cannot read (encoding, format)
        raise AelabError(unreadable_data(path, err)) from None
    except ValueError as err:  # e.g. a config name the dataset does not have
        empty = re.search(r'Instruction "(\w+)" corresponds to no data', str(err))
        if empty:
            raise AelabError(f"the {empty.group(1)} split of data.path={path} is empty; every "
                             "split needs rows (or remove the empty file)") from None
        raise AelabError(f"could not load data.path={path} data.name={name}: {err}") from None
    if not isinstance(splits, DatasetDict):
        splits = DatasetDict({"train": splits})
    return splits


TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".json", ".jsonl")


def unreadable_data(path: str, err: Exception) -> str:
    """Which file and line a local dataset cannot be read at, where it can be found (a
    UnicodeDecodeError names neither); else the builder's own reason, in one line."""
    causes, cause = [], err
    while cause is not None:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    undecodable = next((c for c in causes if isinstance(c, UnicodeDecodeError)), None)
    if undecodable is not None and Path(path).is_dir():
        for file in sorted(f for f in Path(path).rglob("*") if f.suffix in TEXT_SUFFIXES):
            for line, raw in enumerate(file.read_bytes().split(b"\n"), 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as bad:
                    return (f"{file} line {line} is not UTF-8 text ({bad.reason} at byte "
                            f"{bad.start}); re-encode the file as UTF-8 (e.g. iconv -f latin1 "
                            "-t utf-8) or fix that line")
    reason = str(causes[-1]).strip().splitlines()[0] if str(causes[-1]).strip() else ""
    return (f"could not read data.path={path}: {type(causes[-1]).__name__}: {reason[:200]}; "
            "check that its files are whole and of one format")


def first_split(splits: DatasetDict):
    """The train split, or whichever comes first: where the columns are looked up."""
    return splits["train"] if "train" in splits else next(iter(splits.values()))


def holds(feature, kind: str) -> bool:
    """Whether a `datasets` feature is of `kind`: 'Image', or 'Value' of strings (text)."""
    return type(feature).__name__ == kind and (
        kind != "Value" or getattr(feature, "dtype", None) in ("string", "large_string"))


def find_column(features: dict, wanted: str | None, kind: str, option: str) -> str:
    """The column holding `kind` ('Image' or 'Value'), or the one named by `option`."""
    what = "image" if kind == "Image" else "text"
    matches = [col for col, feat in features.items() if holds(feat, kind)]
    if wanted:
        if wanted not in features:
            raise AelabError(f"{option}={wanted} is not a column of this dataset; its columns "
                             f"are {sorted(features)}")
        if not holds(features[wanted], kind):
            # Caught here, not as a traceback deep in decoding or tokenizing.
            found = getattr(features[wanted], "dtype", None) or type(features[wanted]).__name__
            raise AelabError(f"{option}={wanted} is a column of {found}, not of {what}s; name "
                             f"a column of {what}s" + (f" ({', '.join(matches)})" if matches else ""))
        return wanted
    if not matches:
        raise AelabError(f"this dataset has no {what} column (columns: {sorted(features)}); "
                         f"name one with {option}=<column>")
    return matches[0]


def standard_splits(splits: DatasetDict, val_size: float | int, seed: int,
                    limit: int | None = None) -> dict:
    """train / val / test datasets, each capped at `limit` rows.

    Validation is the dataset's own split when it has one, else a seeded slice of train,
    never of test: a model must not be selected on the data it is scored on. A dataset
    without a test split gets a seeded slice of train for that too.
    """
    if "train" not in splits:
        raise AelabError(f"the dataset has no 'train' split (splits: {sorted(splits)})")
    train = splits["train"]
    # Where each row came from (split, row in it): an error names the source row, not the
    # row's place after shuffling.
    train_rows = np.arange(len(train))
    out, origin = {}, {}
    for role, names in (("val", VALIDATION_SPLITS), ("test", ("test",))):
        found = next((n for n in names if n in splits), None)
        if found:
            out[role] = splits[found]
            origin[role] = (found, np.arange(len(splits[found])))
            continue
        if len(train) < 3:
            raise AelabError(f"the train split has {len(train)} row(s), too few to hold out a "
                             f"{role} split from it; give more data or a {role} split of its own")
        n_hold = int(round(val_size * len(train))) if val_size < 1 else int(val_size)
        n_hold = max(1, min(n_hold, len(train) - 1))
        shuffled = train.shuffle(seed=seed + (role == "test"))
        order = train_rows[shuffled._indices.column(0).to_numpy()]
        out[role], origin[role] = shuffled.select(range(n_hold)), ("train", order[:n_hold])
        train = shuffled.select(range(n_hold, len(shuffled))).flatten_indices()
        train_rows = order[n_hold:]
    out["train"], origin["train"] = train, ("train", train_rows)
    for role, ds in out.items():
        if len(ds) == 0:
            raise AelabError(f"the {role} split is empty; check data.path and data.limit")
        if limit is not None:
            out[role] = ds.select(range(min(int(limit), len(ds))))
        out[role].aelab_origin = origin[role]
    return {k: out[k] for k in ("train", "val", "test")}


def source_row(ds, row: int, data_path: str | None = None) -> str:
    """Row `row` of a split from `standard_splits`, named where a user can find it: the
    file and its own row for a local folder of parquet files, else the source split's row."""
    split, rows = getattr(ds, "aelab_origin", (None, None))
    if rows is None:
        return f"row {row}"
    own = int(rows[row])
    if data_path and Path(data_path).expanduser().is_dir():
        located = parquet_row(Path(data_path).expanduser(), split, own)
        if located:
            return located
    return f"row {own} of the {split} split"


def parquet_row(folder: Path, split: str, row: int) -> str | None:
    """'row R of FILE' for row `row` of `split`, read from the parquet files' own row counts
    (the order `datasets` loads them in); None if the split's files are not all parquet."""
    import pyarrow.parquet as pq
    from datasets.data_files import DataFilesDict, get_data_patterns

    try:
        files = DataFilesDict.from_patterns(get_data_patterns(str(folder)), str(folder)).get(split)
    except Exception:  # noqa: BLE001 - an unusual layout: the split's row is named instead
        return None
    if not files or not all(str(f).endswith(".parquet") for f in files):
        return None
    for file in files:
        count = pq.ParquetFile(str(file)).metadata.num_rows
        if row < count:
            return f"row {row} of {file}"
        row -= count
    return None
