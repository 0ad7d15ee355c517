"""The results registry: list and load the run records that ``train.fit`` writes.

A run record is ``runs/<name>/record.json`` (format in ``train._finish``):
name, model, model_kwargs, config, setup, data, img_size, params, flops,
ms_per_image, history (one dict per epoch), metrics ({"val"|"test": {attr:
{accuracy, balanced_accuracy, precision, recall, f1, ...}}}), summary
({"val"|"test": {mean_accuracy, mean_balanced_accuracy, macro_f1, ...}}),
created, version.

Records from older versions or interrupted writes may lack fields: ``load_run``
fills each missing one with a default (None, NaN, {} or []) and warns once,
naming the file and the fields. A file that is not valid JSON, a field of the
wrong type (``"summary": null``, ``"created": 5``) or a cut-short ``model.pt``
beside the record makes the run broken: ``list_runs`` skips it with a warning
naming the file, never a crash. Runs are keyed by their folder, so a copied
folder (``cp -r runs/a runs/a_backup``) is its own row. Used in notebook 07.
"""
import json
import math
import numbers
import warnings
import zipfile
from pathlib import Path

import pandas as pd

# Every field a version-1 record has, with the value a missing one gets.
RECORD_FIELDS: dict[str, object] = {
    "name": None, "model": None, "model_kwargs": {}, "config": {}, "setup": {}, "data": None,
    "img_size": math.nan, "params": math.nan, "trainable_params": math.nan, "flops": math.nan,
    "ms_per_image": math.nan, "history": [], "metrics": {}, "summary": {}, "created": None, "version": 0,
}
SUMMARY_COLUMNS = ["mean_accuracy", "mean_balanced_accuracy", "macro_f1", "hamming_loss", "majority_accuracy"]
LIST_COLUMNS = ["name", "model", "data", "profile", "num_attrs", "img_size", "params", "flops", "ms_per_image",
                *SUMMARY_COLUMNS, "split", "created", "path"]


class RunRecordError(ValueError):
    """A run file that cannot be read: a record that is not JSON, not an object or has a field of the wrong
    type, or weights cut short while written."""


def record_path(path: str | Path) -> Path:
    """``runs/<name>`` or ``runs/<name>/record.json`` -> the record file."""
    path = Path(path)
    return path / "record.json" if path.is_dir() else path


def load_run(path: str | Path) -> dict:
    """One run record as a dict with every field of ``RECORD_FIELDS``.

    Missing fields get their default and a ``warnings.warn`` naming the file
    and the fields; ``null`` values (e.g. flops that could not be counted) are
    kept. Raises ``RunRecordError`` for a file that is not a JSON object.
    """
    path = record_path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunRecordError(f"{path} is not a readable run record ({err}); re-run its training "
                             "or delete the folder") from err
    if not isinstance(record, dict):
        raise RunRecordError(f"{path} holds a JSON {type(record).__name__}, not a run record object; "
                             "re-run its training or delete the folder")
    _check_types(record, path)
    missing = [k for k in RECORD_FIELDS if k not in record]
    if missing:
        warnings.warn(f"run record {path} lacks {', '.join(missing)} (older or partial record); "
                      "they load as empty/NaN", stacklevel=2)
    out = {k: _copy(default) for k, default in RECORD_FIELDS.items()} | record
    out["name"] = out["name"] or path.parent.name
    out["path"] = str(path)
    return out


def _copy(value):
    return type(value)() if isinstance(value, (dict, list)) else value


def _check_types(record: dict, path: Path) -> None:
    """RunRecordError naming the file and the field when a present field has the wrong type."""
    for key, default in RECORD_FIELDS.items():
        value = record.get(key)
        if isinstance(default, (dict, list)):
            ok = isinstance(value, type(default))
        elif isinstance(default, float) or key == "version":
            ok = value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool))
        else:  # name, model, data, created
            ok = value is None or isinstance(value, str)
        if key in record and not ok:
            raise RunRecordError(f"{path}: field {key!r} is {json.dumps(value)[:40]}, not a "
                                 f"{type(default).__name__ if default is not None else 'string'}; re-run its "
                                 "training or delete the folder")


def check_weights(run_dir: str | Path) -> None:
    """RunRecordError when ``run_dir/model.pt`` exists but is not a whole torch file (empty or cut short)."""
    weights = Path(run_dir) / "model.pt"
    if weights.exists() and not zipfile.is_zipfile(weights):
        raise RunRecordError(f"{weights} is {weights.stat().st_size} bytes and not a whole torch file (cut short "
                             "while written?): re-run the training of this run (its checkpoint.pt resumes it) "
                             "or delete the folder")


def eval_split(record: dict) -> str | None:
    """'test' when the record has test metrics, else 'val', else None."""
    return next((s for s in ("test", "val") if record["summary"].get(s)), None)


def profile_name(record: dict) -> str | None:
    """The profile ("smoke", "cpu", "gpu") a record was trained under; None when it does not say."""
    profile = record["setup"].get("profile") if isinstance(record["setup"], dict) else None
    return profile.get("name") if isinstance(profile, dict) else profile


def run_row(record: dict) -> dict:
    """The row of ``list_runs`` for one loaded record (summary of test, else val)."""
    split = eval_split(record)
    summary = record["summary"].get(split, {}) if split else {}
    row = {k: record.get(k) for k in ("name", "model", "data", "img_size", "params", "flops",
                                      "ms_per_image", "created", "path")}
    row["profile"] = profile_name(record)
    attrs = record.get("attrs") or record["metrics"].get(split or "", {})
    row["num_attrs"] = len(attrs) if attrs else math.nan
    row.update({k: summary.get(k, math.nan) for k in SUMMARY_COLUMNS})
    row["split"] = split
    return row


def load_runs(runs_dir: str | Path) -> dict[str, dict]:
    """Every readable record ``<runs_dir>/<folder>/record.json`` by folder name, oldest first.

    Broken runs (``load_run`` or ``check_weights`` fails) are skipped with a
    warning; a record whose name is not its folder's (a copied folder) is
    listed under the folder's name, with a warning."""
    records = []
    for path in sorted(Path(runs_dir).glob("*/record.json")):
        try:
            check_weights(path.parent)
            record = load_run(path)
        except RunRecordError as err:
            warnings.warn(f"skipping {err}", stacklevel=2)
            continue
        if record["name"] != path.parent.name:
            warnings.warn(f"{path} names run {record['name']!r} but lies in {path.parent.name}/ (a copy?); "
                          f"listed as {path.parent.name!r}", stacklevel=2)
        records.append((path.parent.name, record))
    records.sort(key=lambda kr: (kr[1]["created"] or "", kr[0]))
    return dict(records)


def runs_table(records: dict[str, dict]) -> pd.DataFrame:
    """One row per loaded record (``load_runs``), named by its key, sorted by creation time.

    Columns: name, model, data, profile, num_attrs, img_size, params, flops, ms_per_image,
    mean_accuracy, mean_balanced_accuracy, macro_f1, hamming_loss,
    majority_accuracy (of the test split, else val; ``split`` says which),
    created, path. No records give an empty table with these columns.
    """
    table = pd.DataFrame([{**run_row(r), "name": key} for key, r in records.items()], columns=LIST_COLUMNS)
    numeric = ["num_attrs", "img_size", "params", "flops", "ms_per_image", *SUMMARY_COLUMNS]
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")
    return table.sort_values(["created", "name"], na_position="first").reset_index(drop=True)


def list_runs(runs_dir: str | Path) -> pd.DataFrame:
    """``runs_table`` of every readable record under ``runs_dir`` (an empty or missing folder:
    an empty table)."""
    return runs_table(load_runs(runs_dir))


def attribute_metrics(record: dict, split: str | None = None) -> pd.DataFrame:
    """Per-attribute metrics (attributes x accuracy, balanced_accuracy, f1, ...) of ``split``
    (default: test, else val); an empty table when the record has none."""
    split = split or eval_split(record)
    table = pd.DataFrame.from_dict(record["metrics"].get(split, {}), orient="index")
    table.index.name = "attribute"
    return table


def history(record: dict) -> pd.DataFrame:
    """The per-epoch history (epoch, train_loss, val_loss, val_accuracy, lr, seconds, ...)."""
    return pd.DataFrame(record["history"])


def matches(record: dict, setup) -> bool:
    """Whether ``record`` was trained on the data and profile of ``setup`` (a ``config.Setup``),
    so that its splits can be rebuilt and its model re-scored here."""
    return record["data"] == setup.source and profile_name(record) == setup.profile.name


def predictions(record: dict, setup, split_names: tuple[str, ...] = ("val", "test"),
                batch_size: int = 256, tolerance: float = 0.005, splits: dict | None = None) -> dict[str, dict]:
    """Rebuild the run's model from its folder (``train.load_model``) and predict on the
    setup's splits at the run's image size: {split: {"y", "probs", "identity"}}, arrays
    (N, A), (N, A), (N,). Raises ValueError when the run used other data or another profile,
    or when the re-scored mean accuracy misses the record's by more than ``tolerance``
    (bf16 on a GPU may flip a few labels; other inputs flip many)."""
    from faceattr_nb import train
    from faceattr_nb.data.splits import load_splits
    if not matches(record, setup):
        raise ValueError(f"run {record['name']} was trained on {record['data']!r} data in another profile; "
                         f"this setup is {setup.source!r} / {setup.profile.name!r}: resolve the same "
                         "profile and data (FACEATTR_PROFILE, FACEATTR_DATA) to re-score it")
    model = train.load_model(Path(record["path"]).parent, device=setup.device)
    if splits is None:  # the caller may pass caches it already loaded at this size
        splits = load_splits(setup, img_size=int(record["img_size"]), gray=record.get("channels") == 1,
                             attrs=record.get("attrs"))
    out = {}
    for split in split_names:
        cache = splits[split]
        out[split] = {"y": cache.y.numpy(), "probs": train.predict(model, cache, batch_size),
                      "identity": cache.identity}
        _check_rescored(record, split, out[split], tolerance)
    return out


def _check_rescored(record: dict, split: str, scored: dict, tolerance: float) -> None:
    """Raise ValueError when re-scoring does not reproduce the record's mean accuracy at 0.5:
    the run saw other inputs (e.g. FaceNet's face crops) or other images than ``load_splits`` gives."""
    stated = record["summary"].get(split, {}).get("mean_accuracy")
    if stated is None:
        return
    from faceattr_nb.metrics import mean_accuracy

    again = mean_accuracy(scored["y"], scored["probs"])
    if abs(again - stated) > tolerance:
        raise ValueError(f"run {record['name']}: re-scored {split} mean accuracy {again:.4f} differs from the "
                         f"record's {stated:.4f}; it was trained on inputs that load_splits does not rebuild "
                         "(face crops, another split); re-score it with the notebook that trained it")


def rescore_best(records: dict[str, dict], setup, limit: int = 3) -> dict[str, dict]:
    """``predictions`` of up to ``limit`` runs of the setup's profile and data that cover all
    40 attributes, highest mean *validation* accuracy first (chosen without looking at a test
    face): {name: {split: {...}}}. Runs that cannot be re-scored (face crops, missing
    checkpoint) are skipped with a printed reason."""
    from faceattr_nb.attributes import ATTRIBUTES
    from faceattr_nb.data.splits import load_splits
    scored, loaded = {}, {}
    val = {name: (r["summary"].get("val") or {}).get("mean_accuracy", -math.inf) for name, r in records.items()}
    for name in sorted(records, key=lambda n: -val[n]):
        record = records[name]
        if len(scored) == limit or not matches(record, setup) or \
                len(record.get("attrs") or ATTRIBUTES) != len(ATTRIBUTES):
            continue
        key = (int(record["img_size"]), record.get("channels") == 1)
        try:
            if key not in loaded:  # runs of one size share one set of caches
                loaded[key] = load_splits(setup, img_size=key[0], gray=key[1], attrs=record.get("attrs"))
            scored[name] = predictions(record, setup, splits=loaded[key])
        except (FileNotFoundError, ValueError, RuntimeError) as err:
            print(f"{name}: not re-scored here ({err})")
    return scored
