"""dataset=files: the user's train / validation / test files, or a hub dataset's split per role -> splits.

Each file is read by `datasets.load_dataset("json" | "csv" | "parquet", data_files={role: file})`
(JSONL and a JSON array of objects both read as json), its columns mapped by dataset.columns
(medft.data.columns). A role without a file or hub split is carved from the training records with
the dataset's fractions and seed. Every record keeps its file and role in its metadata, which
data_stats.json summarises (`sources`).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from medft.config.choices import ROLES
from medft.config.errors import UserError
from medft.data.columns import resolve_columns, row_record
from medft.data.jsonl import DataFormatError
from medft.data.records import Record
from medft.data.split import stratified_split

log = logging.getLogger(__name__)

BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class HubSplitError(UserError, FileNotFoundError):
    """A hub split named by dataset.hub_splits that cannot be loaded (offline, misspelt, private)."""


def file_builder(path: Path, file_format: str, key: str) -> str:
    """The `datasets` builder for a file: dataset.file_format, else its extension."""
    if file_format != "auto":
        return str(file_format)
    builder = BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise DataFormatError(
            f"{key}={path}: cannot tell its format from the extension '{path.suffix}'; name it "
            f"{'/'.join(BUILDERS)} or set dataset.file_format=json|csv|parquet"
        )
    return builder


def _fix_command(dataset_cfg) -> str:
    """The command that reproduces this dataset choice, to which a column mapping is added."""
    if dataset_cfg.get("hub_id"):
        return f"python train.py dataset=files dataset.hub_id={dataset_cfg.hub_id}"
    given = " ".join(
        f"dataset.{role}_file={dataset_cfg[f'{role}_file']}" for role in ROLES if dataset_cfg[f"{role}_file"]
    )
    return f"python train.py dataset=files {given}"


def _records(table, source: str, role: str, dataset_cfg) -> list[Record]:
    found = resolve_columns(dataset_cfg.columns, list(table.column_names), source, role, _fix_command(dataset_cfg))
    records = [row_record(row, found, source, role, number) for number, row in enumerate(table, start=1)]
    if not records:
        raise DataFormatError(f"{source} ({role} file) has no records")
    return records


def read_file(path: str, role: str, dataset_cfg) -> list[Record]:
    """One role's file through `datasets`; a file it cannot parse fails naming the file and format."""
    import datasets

    key = f"dataset.{role}_file"
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataFormatError(f"{key}: no such file: {file} (resolved to {file.resolve()}); give an existing file")
    builder = file_builder(file, dataset_cfg.file_format, key)
    # The Arrow copy datasets prepares is read once into Records: a temporary cache, not a second
    # copy of every user file (and every edit of it) left in ~/.cache/huggingface.
    with tempfile.TemporaryDirectory(prefix="medft-files-") as cache:
        try:
            table = datasets.load_dataset(builder, data_files={role: str(file)}, split=role, cache_dir=cache)
        except Exception as err:  # pyarrow's parse errors: the type is enough, its text may quote the record
            raise DataFormatError(
                f"{key}={file}: not readable as {builder} ({type(err).__name__}); check the file, or set "
                "dataset.file_format=json|csv|parquet if the extension misleads"
            ) from None
        return _records(table, str(file), role, dataset_cfg)


def _hub_table(dataset_cfg, role: str, split: str):
    """A hub split, from a local mirror folder, the datasets cache (offline) or the hub."""
    import datasets

    hub_id, config = dataset_cfg.hub_id, dataset_cfg.hub_config
    try:
        if (Path(hub_id).expanduser() / "dataset_dict.json").is_file():  # a save_to_disk copy
            return datasets.load_from_disk(str(Path(hub_id).expanduser()))[split]
        return datasets.load_dataset(hub_id, config, split=split)
    except Exception as err:  # offline without a cache, a misspelt split or repo, a private repo
        first = str(err).splitlines()[0] if str(err) else ""
        raise HubSplitError(
            f"dataset.hub_splits.{role}={split}: cannot load split '{split}' of dataset.hub_id={hub_id}"
            f"{f' (dataset.hub_config={config})' if config else ''}: {type(err).__name__}: {first[:200]}. Offline, "
            f"the datasets cache must hold it (load it once online), or point dataset.hub_id at a local copy "
            f"(a folder of train/validation files, or save_to_disk's); a role the set lacks: dataset.hub_splits.{role}=null"
        ) from None


def _read_roles(dataset_cfg) -> dict[str, list[Record]]:
    if dataset_cfg.get("hub_id"):
        source = dataset_cfg.hub_id + (f" ({dataset_cfg.hub_config})" if dataset_cfg.hub_config else "")
        return {
            role: _records(_hub_table(dataset_cfg, role, split), f"{source} split {split}", role, dataset_cfg)
            for role in ROLES
            if (split := dataset_cfg.hub_splits[role])
        }
    if not dataset_cfg.train_file:
        raise UserError(
            "dataset=files needs a training file: dataset.train_file=/path/to/train.jsonl "
            "(or dataset.hub_id=<hub dataset> for a hub dataset with a split per role)"
        )
    return {
        role: read_file(dataset_cfg[f"{role}_file"], role, dataset_cfg) for role in ROLES if dataset_cfg[f"{role}_file"]
    }


def load_files(dataset_cfg) -> dict[str, list[Record]]:
    """train / validation / test: the given files (or hub splits); missing roles carved from train."""
    given = _read_roles(dataset_cfg)
    validation = 0.0 if "validation" in given else dataset_cfg.validation_fraction
    test = 0.0 if "test" in given else dataset_cfg.test_fraction
    splits = stratified_split(given["train"], validation, test, dataset_cfg.stratify_by, dataset_cfg.split_seed)
    for role in ("validation", "test"):
        if role in given:
            splits[role] = given[role]
        elif splits[role]:
            log.info("dataset=files: %d %s records held out of the train file", len(splits[role]), role)
    return splits
