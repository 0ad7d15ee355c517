"""Hyper-parameter grids, identity-grouped cross-validation and cross-domain tests on top of ``train.fit``.

The FaceNet report picks (f1, f2, d, batch) on a one-fold grid, then checks
the winner with 5-fold cross-validation (mean ± std). Here folds are grouped
by identity (scikit-learn's GroupKFold), so no person is in both the
training and the held-out part. ``cross_dataset`` is BLAN's Table 9: train
on one dataset, test on every other (``shift_domains`` gives the pairs the
active data allow). Runs land in ``runs/_search/`` so that notebook 07's
table lists only the main runs. Used in notebooks 02 and 04-06; the quick
runs (``QUICK_RUNS``, ``train_quick``) in notebook 07.
"""
import itertools
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from sklearn.model_selection import GroupKFold
from tqdm.auto import tqdm

from faceattr_nb import metrics
from faceattr_nb.data.loaders import ImageCache
from faceattr_nb.train import TrainConfig, fit, predict


def grid_search(build: Callable[..., nn.Module], grid: dict[str, list], train: ImageCache, val: ImageCache,
                cfg: TrainConfig, score: Callable[[object], dict[str, float]], runs_dir: str | Path,
                prefix: str = "grid", seed: int = 0) -> pd.DataFrame:
    """Train one model per point of ``grid`` and score it on ``val``.

    ``grid`` maps argument names to values; ``batch_size`` goes to the
    config, every other name to ``build``. ``score(run)`` turns a finished
    run into the numbers of one table row.
    """
    names = list(grid)
    rows = []
    for values in tqdm(list(itertools.product(*grid.values())), desc=prefix):
        point = dict(zip(names, values))
        run_cfg = replace(cfg, batch_size=point.get("batch_size", cfg.batch_size), seed=seed)
        model = build(**{k: v for k, v in point.items() if k != "batch_size"})
        tag = "_".join(f"{k}{v}" for k, v in point.items())
        run = fit(model, train, val, run_cfg, name=f"{prefix}_{tag}", runs_dir=Path(runs_dir) / "_search",
                  progress=False, resume=False)
        rows.append({**point, **score(run), "params": run.record["params"], "flops": run.record["flops"]})
    return pd.DataFrame(rows)


def grouped_cv(build: Callable[[], nn.Module], data: ImageCache, cfg: TrainConfig,
               score: Callable[[object], dict[str, float]], runs_dir: str | Path, n_splits: int = 5,
               prefix: str = "cv", expand: Callable[[ImageCache], ImageCache] | None = None) -> pd.DataFrame:
    """K-fold cross-validation grouped by identity: one row per fold, plus mean and std rows.

    ``expand`` (e.g. the ×4 augmentation) is applied to each training part
    only, after the split, so augmented copies never leak into a held-out fold.
    """
    groups = data.identity if (data.identity >= 0).all() else np.arange(len(data))
    folds = GroupKFold(n_splits=n_splits).split(np.zeros(len(data)), groups=groups)
    rows = []
    for k, (tr, te) in enumerate(tqdm(list(folds), desc=prefix)):
        part = data.subset(tr)
        run = fit(build(), expand(part) if expand else part, data.subset(te), cfg, name=f"{prefix}_fold{k + 1}",
                  runs_dir=Path(runs_dir) / "_search", progress=False, resume=False)
        rows.append({"fold": k + 1, **score(run)})
    table = pd.DataFrame(rows).set_index("fold")
    return pd.concat([table, table.agg(["mean", "std"])])


def facenet_score_key(attr: str) -> str:
    """The name of the report's score for ``attr``: "Male_accuracy", else "<attr>_f1"."""
    return "Male_accuracy" if attr == "Male" else f"{attr}_f1"


def facenet_report_scores(table: pd.DataFrame) -> dict[str, float]:
    """The report's scores from a per-attribute table: accuracy for Male, for the rest F1 with the
    minority class positive (``metrics.minority_f1``: a beard for No_Beard), as its references are."""
    f1 = metrics.minority_f1(table)
    return {facenet_score_key(a): float(table.loc[a, "accuracy"] if a == "Male" else f1[a]) for a in table.index}


def cross_dataset(build: Callable[[], nn.Module], domains: dict[str, dict[str, ImageCache]], cfg: TrainConfig,
                  runs_dir: str | Path, prefix: str = "cross", seed: int = 0, n_boot: int = 1000,
                  batch_size: int = 256, device: str | None = None,
                  trained: dict[str, nn.Module] | None = None, train_on: list[str] | None = None) -> pd.DataFrame:
    """BLAN Table 9: train on each domain, test on every domain; one row per (train, test) pair.

    ``domains`` maps a name to its caches: "train" and "val" to train a model
    there (early stopping on its own "val"), "test" to be tested on; a domain
    with only "test" (e.g. the unaligned crops of the real subset) is tested
    on and never trained on. No model ever trains or early-stops on a "test"
    cache. ``build()`` makes a fresh model (``torch.manual_seed(seed)`` before
    each). Columns: in_domain, mean_accuracy with its identity-bootstrap
    interval ci_low / ci_high (``metrics.accuracy_ci``), n_identities, and two
    floors: majority (the majority labels of the training domain's train split,
    scored on this test split: what the training domain's label rates alone
    give) and test_majority (the test domain's own majority labels, from its
    train split, else from its test split).

    ``trained`` maps a domain to a model already trained on it (a notebook's
    own run, trained on that domain's train split): it is tested as it is,
    not trained again (its ``run`` cell is empty). ``train_on`` limits which
    domains get a new model (default: every domain with a train split); a
    domain in ``trained`` is always a training domain.
    """
    trained = dict(trained or {})
    unknown = sorted(set(trained) - set(domains)) + sorted(set(train_on or []) - set(domains))
    if unknown:
        raise ValueError(f"unknown domain(s) {unknown}; the domains are {list(domains)}")
    trainable = [d for d, splits in domains.items() if "train" in splits
                 and (d in trained or train_on is None or d in train_on)]
    missing = {d: sorted({"train", "val", "test"} - set(s)) for d, s in domains.items()
               if "test" not in s or ("train" in s and "val" not in s)}
    if missing or not trainable:
        raise ValueError(f"each domain needs a 'test' cache, and 'train' with 'val' to be trained on (the test "
                         f"split never steers training); missing: {missing or 'no domain has a train split'}")
    rows = []
    for source in tqdm(trainable, desc=prefix, disable=all(d in trained for d in trainable)):  # test only: no bar
        if source in trained:
            model, run_name = trained[source], ""
        else:
            torch.manual_seed(seed)
            model = build()
            run_name = fit(model, domains[source]["train"], domains[source]["val"], replace(cfg, seed=seed),
                           name=f"{prefix}_{_slug(source)}", runs_dir=Path(runs_dir) / "_search", device=device,
                           progress=False, resume=False).name
        train_y = domains[source]["train"].y.numpy()
        for target, splits in domains.items():
            test = splits["test"]
            y, probs = test.y.numpy(), predict(model, test, batch_size, device=device)
            ci = metrics.accuracy_ci(y, probs, test.identity, n_boot=n_boot, seed=seed)
            own = splits["train"].y.numpy() if "train" in splits else y
            rows.append({"train": source, "test": target, "in_domain": source == target,
                         "mean_accuracy": ci["mean"], "ci_low": ci["low"], "ci_high": ci["high"],
                         "n_identities": ci["n_groups"], "majority": _majority_accuracy(train_y, y),
                         "test_majority": _majority_accuracy(own, y), "run": run_name})
    return pd.DataFrame(rows).set_index(["train", "test"])


def _majority_accuracy(train_y: np.ndarray, eval_y: np.ndarray) -> float:
    return float((metrics.majority_predict(train_y, len(eval_y)) == eval_y).mean())


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def shift_domains(setup, img_size: int | None = None, lfwa_root: str | Path | None = None) -> dict[str, dict]:
    """Two domains for ``cross_dataset`` from what the active data allow (a dict name -> caches).

    * ``lfwa_root`` given (a folder ``data.lfwa`` reads): the active data and LFWA, as in BLAN Table 9;
    * the course's real subset: "CelebA aligned" (train / val / test) and "CelebA unaligned crops"
      (its protocol-b test_b only: tested on, never trained on);
    * generated data: "generated a" and "generated b" (``synthetic.generate(..., domain="b")``, written
      beside the first folder with the same size and seed: another crop and pose).
    """
    from faceattr_nb.data import splits as data_splits
    from faceattr_nb.data import synthetic

    caches = data_splits.load_splits(setup, img_size)
    if lfwa_root is not None:
        other = replace(setup, data_root=Path(lfwa_root), source="lfwa")
        name = "CelebA" if setup.source in ("celeba", "real-subset") else setup.source
        return {name: {k: v for k, v in caches.items() if k != "test_b"},
                "LFWA": data_splits.load_splits(other, img_size)}
    if setup.source == "real-subset":
        if "test_b" not in caches:
            raise ValueError(f"the real-subset folder {setup.data_root} has no unaligned crops "
                             "(celeba_images/Trung-Jeager-2019_validation/), the second domain: add them, or pass "
                             "lfwa_root= (a folder with lfw_att_40.mat, see data/README.md)")
        return {"CelebA aligned": {k: caches[k] for k in ("train", "val", "test")},
                "CelebA unaligned crops": {"test": caches["test_b"]}}
    if setup.source == "synthetic":
        root_b = setup.data_root.with_name(setup.data_root.name + "_b")
        synthetic.generate(root_b, setup.profile.n_synthetic, seed=setup.seed, domain="b")
        return {"generated a": caches, "generated b": data_splits.load_splits(replace(setup, data_root=root_b),
                                                                              img_size)}
    raise ValueError(f"no second domain for source {setup.source!r}: pass lfwa_root= (a folder with "
                     "lfw_att_40.mat, indices_train_test.mat and lfw/), see data/README.md")

# ---------------------------------------------------------------- quick runs for notebook 07

# run name -> (model, create() arguments, image side (None: the profile's), gray): narrow versions
# of the course's models that train in seconds, for notebook 07 when notebooks 02-06 have not run.
QUICK_RUNS = {
    "quick_facenet40": ("facenet", {"attributes": None}, 36, True),
    "quick_scratch_cnn": ("scratch_cnn", {"widths": (8, 8, 16, 16, 32), "dense": (64, 64)}, None, False),
    "quick_pse_dmtl": ("pse_dmtl", {"width": 16, "hidden": 32}, None, False),
}


def quick_config(setup, seed: int = 0) -> TrainConfig:
    """The quick runs' schedule: the profile's epochs and batch, AdamW 2e-3, cosine."""
    p = setup.profile
    return TrainConfig(epochs=p.epochs, batch_size=p.batch_size, lr=2e-3, optimizer="adamw",
                       schedule="cosine", seed=seed)


def train_quick(setup, name: str, seed: int = 0, runs_dir: str | Path | None = None, splits: dict | None = None,
                run_name: str | None = None, progress: bool = True):
    """Train ``QUICK_RUNS[name]`` on the setup's data (weights drawn with ``torch.manual_seed(seed)``)
    and return ``train.fit``'s Run, saved as ``run_name`` (default ``name``) under ``runs_dir``
    (default the setup's; e.g. a folder of seed repeats); ``splits`` reuses caches already
    loaded at the run's size; ``progress``: ``fit``'s bars and closing line. Used in notebook 07."""
    import torch

    from faceattr_nb import models
    from faceattr_nb.attributes import ATTRIBUTES
    from faceattr_nb.data.splits import load_splits
    if name not in QUICK_RUNS:
        raise ValueError(f"unknown quick run {name!r}; known: {', '.join(QUICK_RUNS)}")
    model_name, kwargs, size, gray = QUICK_RUNS[name]
    size = size or setup.profile.img_size
    kwargs = {k: (list(ATTRIBUTES) if v is None and k == "attributes" else v) for k, v in kwargs.items()}
    if model_name == "pse_dmtl":
        kwargs["img_size"] = size
    splits = splits or load_splits(setup, img_size=size, gray=gray)
    torch.manual_seed(seed)
    model = models.create(model_name, **kwargs)
    return fit(model, splits["train"], splits["val"], quick_config(setup, seed), test=splits["test"],
               name=run_name or name, setup=setup, runs_dir=runs_dir, progress=progress)
