"""Every course model on real faces under the real-subset protocol, with intervals and the majority baseline.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/real_subset.py --models lite0 scratch_cnn \\
        --size 64 --epochs 12 --seeds 3

The protocol (README of the shared data folder): train on the aligned
official-train images, keep the epoch with the lowest validation loss
(``train.fit``), then report mean accuracy over the 40 attributes on
(a) the aligned official-test faces and (b) the unaligned official-test crops
("test_b" of ``load_splits``; a full CelebA root has no (b)), each beside the
majority baseline fitted on the same training labels, with a 95 % bootstrap
interval over test identities (``metrics.bootstrap_mean``). With several
seeds the interval is that of the seed-averaged accuracy (identities
resampled, seeds kept) and "sd" is the standard deviation over seeds.

``--models`` takes names of SPECS (or "all": every spec but the slow ones).
Each spec writes
OUT/<spec>_<size>px[_full][_shift<N>][_ft<lr>][_<schedule>][_bn<stats>][_dp<rate>][_ld<decay>][_kd<N>-<digest>][_sharedhead]_<epochs>[+<N>]ep_<n>seeds.json
(results, the validation accuracy of the kept epoch, config, wall time,
machine, date, command; ``json_name``: --frame, --shift, --finetune-lr,
--schedule, --finetune-bn, --drop-path, --layer-decay, --teacher,
--shared-head and --finetune-epochs runs get rows of their own);
then the section between the markers of RESULTS.md is rebuilt from every JSON
file in OUT, and the rest of the file is left as it was (``--section NAME``
with an OUT of its own: another section, e.g. the runs on a GPU at the papers'
input sizes); with the default OUT, the shipped results, the table of README.md follows
(``readme_results.py``). ``--frame full``
trains and scores on the whole 178x218 frame (hair and neck) instead of its
centre square. ``--teacher RUN [RUN ...]`` distils saved runs (their mean
probabilities on the training faces, ``faceattr_nb/distill.py``) into each
seed of a transfer spec; ``--shared-head`` starts every seed's phase 2 from
seed 0's phase 1, so that the seeds' weights can be averaged (a model soup).
"""
import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import readme_results  # benchmarks/readme_results.py, beside this script
import torch
from results_md import replace_section  # benchmarks/results_md.py, beside this script

from faceattr_nb import config, distill, metrics, models, train
from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data.splits import load_crops, load_splits
from faceattr_nb.measured import REAL_SUBSET_RESULTS, chosen_on_val, input_text, recipe, runs_table
from faceattr_nb.models.lite import backbone_weights
from faceattr_nb.thresholds import apply_thresholds

HERE = Path(__file__).resolve().parent
MAIN = "real_subset"  # the RESULTS.md section of the main table (--section)
BEGIN, END = f"<!-- {MAIN}:begin -->", f"<!-- {MAIN}:end -->"
INPUT = "input.json"  # beside each run record (which holds the input side): the frame it was trained on


@dataclass(frozen=True)
class Spec:
    """One benchmarked configuration: the model, its training settings and its input."""
    model: str                     # registry name for models.create
    kwargs: dict                   # create() keyword arguments (img_size is added for pse_dmtl, gal, blan)
    train: dict                    # TrainConfig changes (the profile gives epochs and batch size)
    backbone: str                  # what the table prints: backbone and where its weights come from
    finetune_lr: float | None = None  # transfer (notebook 03): phase 1 frozen, phase 2 all layers at this lr
    finetune_epochs: int | None = None  # phase 2's epochs; None: as many as phase 1
    finetune_bn: str = "imagenet"  # phase 2 BatchNorm of a pretrained base: "imagenet" statistics kept, or "faces"
    finetune_layer_decay: float | None = None  # phase 2: stage k below the top at lr * decay**k (None: one lr)
    shared_head: bool = False      # every seed's phase 2 starts from seed 0's phase 1 (--shared-head)
    size: int | None = None        # a fixed input side (FaceNet's 36 px crops); None: --size
    epochs: int | None = None      # a fixed epoch count; None: --epochs
    crops: bool = False            # FaceNet's gray type-B crops (notebook 02) instead of RGB faces
    default: bool = True           # part of --models all


ADAM = dict(lr=1e-3, optimizer="adam", weight_decay=0.0)                          # notebooks 03 and 06
PSE = dict(lr=2e-3, optimizer="adamw", weight_decay=1e-4, schedule="cosine")      # notebook 04
GAL_BASE = dict(lr=1e-3, optimizer="adamw", weight_decay=5e-4, schedule="cosine")  # notebook 05
GAL = dict(GAL_BASE, weight_decay=1e-3)
BLAN = dict(ADAM, schedule="poly", power=1.0)
FACENET = dict(batch_size=64, lr=3e-3, optimizer="adam", schedule="cosine", weight_decay=0.0, flip=False)
BLAN_ARCH = dict(backbone="resnet18", width=0.5, lmim_hidden=128)                 # notebook 06, gpu_run.py
LITE0 = dict(backbone="tf_efficientnet_lite0", pretrained=True)
LITE2 = dict(backbone="tf_efficientnet_lite2", pretrained=True)  # Lite0 scaled up (models/lite.py)
RANDOM, WHEEL = "alexnet_small, random", "tf_efficientnet_lite0, ImageNet"
SPECS: dict[str, Spec] = {
    "scratch_cnn": Spec("scratch_cnn", {}, ADAM, "own CNN, random"),
    "facenet40": Spec("facenet", dict(attributes=ATTRIBUTES), FACENET, "FaceNet-40, 36 px gray crops, random",
                      size=36, crops=True),
    "lite0": Spec("xception", LITE0, ADAM, WHEEL, finetune_lr=1e-4),  # notebook 03: phase 2 at lr x 0.1
    "lite2": Spec("xception", LITE2, ADAM, "tf_efficientnet_lite2, ImageNet", finetune_lr=1e-4, default=False),
    "xception_random": Spec("xception", dict(backbone="legacy_xception"), ADAM, "legacy_xception, random",
                            finetune_lr=1e-4, default=False),  # ~3x the time of all others together on a CPU
    "pse_baseline": Spec("pse_dmtl", dict(pse=None), PSE, RANDOM),
    "pse_conv": Spec("pse_dmtl", dict(pse="conv"), PSE, RANDOM),
    "pse_baseline_lite0": Spec("pse_dmtl", dict(pse=None, **LITE0), PSE, WHEEL),
    "pse_conv_lite0": Spec("pse_dmtl", dict(pse="conv", **LITE0), PSE, WHEEL),
    "gal_baseline": Spec("gal", dict(variant="baseline"), GAL_BASE, RANDOM),
    "gal_j": Spec("gal", dict(variant="j"), GAL, RANDOM),
    "gal_baseline_lite0": Spec("gal", dict(variant="baseline", **LITE0), GAL_BASE, WHEEL),
    "gal_j_lite0": Spec("gal", dict(variant="j", **LITE0), GAL, WHEEL),
    "blan_enc": Spec("blan", dict(BLAN_ARCH, decoder=False, fusion=False, alpha=0.0), BLAN, "resnet18 x0.5, random"),
    "blan": Spec("blan", BLAN_ARCH, BLAN, "resnet18 x0.5, random"),
    # BLAN on tf_efficientnet_lite0: its decoder mirrors ResNet blocks (encoder.layer1-3), so it does not accept it.
}
SIZED = ("pse_dmtl", "gal", "blan")  # models built for one input side


# ---------------------------------------------------------------- scoring

def correct_per_image(cache, probs: np.ndarray) -> np.ndarray:
    """(N,) fraction of the 40 attributes right on each image, at threshold 0.5."""
    return (apply_thresholds(probs, 0.5) == cache.y.numpy()).mean(axis=1)


def interval(per_seed: list[np.ndarray], identity: np.ndarray) -> dict:
    """Mean accuracy over seeds with the identity-bootstrap interval of the seed average, and the spread."""
    ci = metrics.bootstrap_mean(np.mean(per_seed, axis=0), identity)
    seeds = [float(c.mean()) for c in per_seed]
    return {**ci, "seeds": seeds, "sd": float(np.std(seeds, ddof=1)) if len(seeds) > 1 else None}


def majority(data: dict) -> dict:
    """The majority predictor of the training labels on each test set, with its interval."""
    train_y = data["train"].y.numpy()
    out = {}
    for split in test_splits(data):
        y = data[split].y.numpy()
        out[split] = metrics.bootstrap_mean(metrics.majority_predict(train_y, len(y)) == y, data[split].identity)
    return out


def test_splits(data: dict) -> list[str]:
    """'test' (protocol a) and, where the data have it, 'test_b' (protocol b)."""
    return [s for s in ("test", "test_b") if s in data]


# ---------------------------------------------------------------- training

def load_data(spec: Spec, setup: config.Setup, size: int, frame: str = "square") -> dict:
    """The caches a spec trains and is scored on (``frame``: "square", the centre square of each image, or
    "full", the whole frame squeezed to a square; FaceNet's crops have their own boxes)."""
    return load_crops(setup, kind="B") if spec.crops else load_splits(setup, img_size=size, square=frame == "square")


def phases(spec: Spec, model: torch.nn.Module, cfg: train.TrainConfig):
    """(suffix, model, config) of each training phase: one, or notebook 03's frozen then fine-tuned."""
    if spec.finetune_lr is None:
        yield "", model, cfg
        return
    pretrained = spec.kwargs.get("pretrained", False)
    yield "_frozen", model.freeze_backbone(bn_eval=pretrained), cfg  # a random base keeps batch statistics
    # ImageNet BatchNorm statistics stay (Keras): re-estimated on faces they shift the features under the top
    # (finetune_bn="faces" measures that: notebook 03's exercise 3)
    keep = pretrained and spec.finetune_bn == "imagenet"
    yield "_finetune", model.unfreeze_backbone(bn_eval=keep), dataclasses.replace(
        cfg, lr=spec.finetune_lr, epochs=spec.finetune_epochs or cfg.epochs, layer_decay=spec.finetune_layer_decay)


def run_seed(name: str, spec: Spec, data: dict, cfg: train.TrainConfig, size: int, setup: config.Setup,
             resume: bool, tag: str, frame: str = "square") -> tuple[dict, str]:
    """Train one seed; {row: {"correct": {split: (N,)}, "best_epoch", "epochs_run", "seconds", "summary"}}.
    Its run records are rs_<tag>_s<seed>[_frozen|_finetune] (tag: the JSON file's stem, so each setting keeps
    its own), each with an ``input.json`` saying which images it saw (``run_input``)."""
    torch.manual_seed(cfg.seed)
    kwargs = dict(spec.kwargs, img_size=size) if spec.model in SIZED else dict(spec.kwargs)
    model = models.create(spec.model, **kwargs)
    weights = backbone_weights(model) or ("random" if not kwargs.get("pretrained") else "ImageNet (timm)")
    out = {}
    for suffix, stage, stage_cfg in phases(spec, model, cfg):
        # --shared-head: phase 1 is seed 0's for every seed (resumed from its finished run, so trained once)
        seed = 0 if spec.shared_head and suffix == "_frozen" else cfg.seed
        run = train.fit(stage, data["train"], data["val"], dataclasses.replace(stage_cfg, seed=seed),
                        name=f"rs_{tag}_s{seed}{suffix}", setup=setup, progress=False,
                        resume=resume or seed != cfg.seed)
        (run.path.parent / INPUT).write_text(json.dumps({"frame": frame}) + "\n")
        train_y = data["train"].y.numpy()
        kept = run.history.loc[run.history["val_loss"].idxmin()]  # the epoch fit keeps (lowest val loss)
        row = {"correct": {}, "summary": {}, "best_epoch": int(kept["epoch"]),
               "val_accuracy": float(kept["val_accuracy"]), "epochs_run": len(run.history),
               "seconds": float(run.history["seconds"].sum())}
        for split in test_splits(data):
            probs = train.predict(stage, data[split])
            row["correct"][split] = correct_per_image(data[split], probs)
            row["summary"][split] = metrics.evaluate(data[split].y.numpy(), probs, train_y=train_y)[1]
        out[name + suffix] = row
    return out, weights


def distilled(data: dict, teachers: list[Path], weight: float, size: int, frame: str) -> tuple[dict, dict]:
    """``data`` whose training split has the ``teachers``' soft targets (``distill.with_soft_targets``), and what
    the JSON record keeps of them; SystemExit for teachers trained on another input than ``size`` and ``frame``."""
    try:
        seen = run_input(teachers)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"--teacher: {err}") from err
    if seen != (size, frame):
        raise SystemExit(f"--teacher: the runs were trained on {seen[0]} px ({seen[1]}), this run is {size} px "
                         f"({frame}): give teachers of the same input, or --size/--frame as theirs")
    t0 = time.perf_counter()
    probs = distill.teacher_probs([train.load_model(t) for t in teachers], data["train"])
    info = {"teachers": [Path(t).name for t in teachers], "teacher_weight": weight,
            "teacher_train_agreement": distill.agreement(data["train"], probs),
            "teacher_seconds": time.perf_counter() - t0}
    print(f"teachers: {len(teachers)} runs agree with {100 * info['teacher_train_agreement']:.2f} % of the training "
          f"labels ({info['teacher_seconds']:.0f} s)", flush=True)
    return dict(data, train=distill.with_soft_targets(data["train"], probs, weight)), info


def run_input(runs: list[Path]) -> tuple[int, str]:
    """The input side and frame that every one of ``runs`` (run folders of this script) was trained on, to score
    them again on the same images; ValueError when they differ. Folders without ``input.json`` (runs before
    --frame) saw the centre square."""
    def one(run: Path) -> tuple[int, str]:
        size = json.loads((run / "record.json").read_text())["img_size"]
        return size, json.loads((run / INPUT).read_text())["frame"] if (run / INPUT).exists() else "square"

    inputs = {one(Path(run)) for run in runs}
    if len(inputs) != 1:
        raise ValueError(f"{', '.join(map(str, runs))} were trained on different inputs "
                         f"({', '.join(f'{s} px {f}' for s, f in sorted(inputs))}): give runs of one input size "
                         "and frame, scored on the same images")
    return inputs.pop()


def benchmark(name: str, spec: Spec, data: dict, base: train.TrainConfig, size: int, seeds: int,
              setup: config.Setup, resume: bool, tag: str, frame: str = "square") -> dict:
    """Every seed of one spec, aggregated: {row: {split: interval, ...}} plus the majority baseline."""
    per_seed, weights = [], None
    for seed in range(seeds):
        result, weights = run_seed(name, spec, data, dataclasses.replace(base, seed=seed), size, setup, resume,
                                   tag=tag, frame=frame)
        per_seed.append(result)
        print(name, f"seed {seed}:", {row: {s: round(float(c.mean()), 4) for s, c in r["correct"].items()}
                                      for row, r in result.items()}, flush=True)
    rows = {}
    for row in per_seed[0]:
        runs = [r[row] for r in per_seed]
        rows[row] = {split: interval([r["correct"][split] for r in runs], data[split].identity)
                     for split in test_splits(data)}
        rows[row].update({
            "best_epoch": [r["best_epoch"] for r in runs], "epochs_run": [r["epochs_run"] for r in runs],
            "val_accuracy": [r["val_accuracy"] for r in runs],
            "train_seconds": [r["seconds"] for r in runs],
            "summary": {split: {k: float(np.mean([r["summary"][split][k] for r in runs]))
                                for k in ("mean_balanced_accuracy", "macro_f1")} for split in test_splits(data)}})
    return {"rows": rows, "majority": majority(data), "backbone_weights": weights}


# ---------------------------------------------------------------- records

def machine() -> str:
    """The device in words: GPU name, or CPU model and torch threads."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    model = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def markers(section: str = MAIN) -> tuple[str, str]:
    """The markers of the RESULTS.md section ``section`` (``--section``): MAIN's are (BEGIN, END); another,
    e.g. "real_subset_gpu", is a section of its own beside it."""
    return f"<!-- {section}:begin -->", f"<!-- {section}:end -->"


def render(records: list[dict], where: str = "benchmarks/results/real_subset/", section: str = MAIN) -> str:
    """The RESULTS.md section ``section`` (its markers included) for every record, read from the folder ``where``."""
    marks = markers(section)
    order = {name: i for i, name in enumerate(SPECS)}
    records = sorted(records, key=lambda r: (r["img_size"], order.get(r["spec"], len(order)), r["spec"],
                                             r["train_config"].get("shift", 0)))
    title = "Every model on the real subset" + ("" if section == MAIN else f", the runs in `{where}`")
    lines = [marks[0], f"## {title}: `benchmarks/real_subset.py`", "",
             f"Generated by `benchmarks/real_subset.py` from the JSON files in `{where}`; "
             "do not edit by hand. Train on the aligned official-train images, keep the epoch with the lowest "
             "validation loss, report mean accuracy over the 40 attributes on (a) the aligned official-test faces "
             "and (b) the unaligned official-test crops, beside the majority baseline fitted on the same training "
             "labels; [95 % bootstrap interval over test identities]; with several seeds: the seed average, its "
             "interval and (sd over seeds). Threshold 0.5. Input 'shift ±N': training images moved at random by up "
             "to N pixels each way (`--shift N`); otherwise flips only. 'full frame': the whole 178x218 image squeezed "
             "to a square (`--frame full`); otherwise its centre square, without the top of the hair and the neck. "
             "Training: optimizer, peak learning rate (the "
             "fine-tuning phase of a transfer model: its own) and schedule; 'BatchNorm on faces': "
             "phase 2 re-estimated the BatchNorm statistics on faces (`--finetune-bn faces`) instead of keeping "
             "ImageNet's; 'stochastic depth 0.2': phase 2 skipped residual blocks at random up to that rate "
             "(`--drop-path`); 'distilled from N runs': trained on the mean probabilities of N saved runs on the "
             "training faces instead of the labels (`--teacher`); 'phase 1 shared by the seeds': every seed's "
             "phase 2 started from seed 0's phase 1 (`--shared-head`). Val accuracy: mean accuracy on the "
             "official-val images at the kept epoch, what a run is chosen by (runs before 2026-12-03 did not record "
             "it: '-'). Wall time: the whole row's command for "
             "that spec (every seed, both phases of a transfer model, scoring).", ""]
    if not records:
        return "\n".join(lines + ["No runs yet.", marks[1]])
    lines += ["| run | backbone | input | training | epochs (best) | seeds | val accuracy | (a) accuracy "
              "| (a) majority | (b) accuracy | (b) majority | wall time | machine | date | command |",
              "|" + "---|" * 15]
    table = runs_table(records)  # the same rows, in the same order, as values
    all_cells = []
    for r in records:
        for row, res in r["rows"].items():
            best = "/".join(str(b) for b in res["best_epoch"])
            size = input_text(r)
            val = res.get("val_accuracy")
            epochs = (r.get("finetune_epochs") if row.endswith("_finetune") else None) or r["epochs"]
            cells = [row, r["backbone"], size, recipe(r, finetune=row.endswith("_finetune")),
                     f"{epochs} ({best})", str(len(r["seeds"])),
                     f"{100 * np.mean(val):.2f}%" if val else "-", fmt(res.get("test")),
                     fmt(r["majority"].get("test")), fmt(res.get("test_b")),
                     fmt(r["majority"].get("test_b")), minutes(r["wall_s"]), r["machine"], r["date"][:10],
                     f"`{r['command']}`"]
            lines.append("| " + " | ".join(cells) + " |")
            all_cells.append(cells)
    notes = sorted({r["note"] for r in records if r.get("note")})
    lines += [""] + [f"Note: {n}" for n in notes] if notes else []
    picked = chosen_on_val(table)
    if len(picked):
        lines += ["", "### Each model's run chosen on validation", "",
                  "Of the rows above that recorded it, each run's row with the highest val accuracy: the choice "
                  "a user makes without looking at a test face. Its test accuracies are then what that model "
                  "reaches here; the best test number of a column, picked after the fact, is optimistic.", "",
                  "| run | input | training | epochs (best) | seeds | val accuracy | (a) accuracy | (b) accuracy "
                  "| rows (with val) |", "|" + "---|" * 9]
        tried = table.groupby("run", sort=False)["val_accuracy"].agg(["size", "count"])  # rows, rows with val
        for i, row in picked["run"].items():
            cells = all_cells[i]
            rows, with_val = tried.loc[row]
            lines.append("| " + " | ".join([*cells[0:1], *cells[2:8], cells[9], f"{rows} ({with_val})"]) + " |")
    return "\n".join(lines + [marks[1]])


def fmt(ci: dict | None) -> str:
    """'88.12% [87.0, 89.1]' (+ ' (sd 0.21)' over seeds), or '-' where the data have no such test set."""
    if not ci:
        return "-"
    text = f"{100 * ci['mean']:.2f}% [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]"
    return text + (f" (sd {100 * ci['sd']:.2f})" if ci.get("sd") is not None else "")


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def section_text(out_dir: Path, section: str = MAIN) -> str:
    """The section ``section`` rendered from every JSON file in ``out_dir`` (named relative to the repository)."""
    records = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
    where = out_dir.resolve()
    return render(records, f"{where.relative_to(HERE.parent)}/" if where.is_relative_to(HERE.parent) else str(where),
                  section)


def update_results_md(out_dir: Path, md_path: Path, section: str = MAIN) -> None:
    """Rebuild the section ``section`` of ``md_path`` (appended when absent) from every JSON file in ``out_dir``."""
    replace_section(md_path, *markers(section), section_text(out_dir, section))


# ---------------------------------------------------------------- command line

def default_data() -> str:
    """$FACEATTR_DATA, else the shared data folder beside the repository."""
    return os.environ.get("FACEATTR_DATA") or str(config.REPO_ROOT.parent / "shared" / "data")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data(), help="real-subset folder or CelebA root (default: %(default)s)")
    ap.add_argument("--models", nargs="+", default=["all"], help=f"'all' or names of: {', '.join(SPECS)}")
    ap.add_argument("--size", type=int, default=64, help="input side of the RGB models (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per phase (default: the profile's)")
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default: %(default)s)")
    ap.add_argument("--patience", type=int, default=None, help="early stopping on val loss (default: off)")
    ap.add_argument("--finetune-lr", type=float, default=None, help="phase-2 lr of the transfer specs")
    ap.add_argument("--finetune-bn", choices=("imagenet", "faces"), default=None,
                    help="phase-2 BatchNorm of a pretrained transfer spec: keep the ImageNet statistics (the Keras "
                         "guide, the spec's default) or learn the faces' (notebook 03, exercise 3)")
    ap.add_argument("--finetune-epochs", type=int, default=None,
                    help="phase-2 epochs of the transfer specs (default: --epochs, as phase 1)")
    ap.add_argument("--schedule", choices=train.SCHEDULES, default=None,
                    help="learning-rate schedule of every phase instead of the spec's (default: the spec's)")
    ap.add_argument("--drop-path", type=float, default=None,
                    help="stochastic depth rate of the transfer specs' backbone, active in phase 2 with "
                         "--finetune-bn faces (EfficientNet's ImageNet training used 0.2; default: off)")
    ap.add_argument("--layer-decay", type=float, default=None,
                    help="transfer specs, phase 2: discriminative learning rates, the head at --finetune-lr and the "
                         "backbone's stage k below the top at that lr * D**k (train.layer_decay_groups; default: "
                         "one lr for all)")
    ap.add_argument("--teacher", type=Path, nargs="+", default=None,
                    help="run folders of this script (same input size and frame) whose mean probabilities on the "
                         "training faces, each with its mirror image, are the training targets of the transfer "
                         "specs: knowledge distillation (default: the labels)")
    ap.add_argument("--teacher-weight", type=float, default=1.0,
                    help="with --teacher: targets = w * teacher + (1 - w) * labels (default: %(default)s)")
    ap.add_argument("--shared-head", action="store_true",
                    help="transfer specs: every seed's phase 2 starts from seed 0's phase 1 (one trained head), so "
                         "the seeds differ in phase 2 only: runs a model soup can average (inference_levers.py --soup)")
    ap.add_argument("--shift", type=int, default=0,
                    help="random translation of training images by up to N pixels, a regulariser (default: off)")
    ap.add_argument("--frame", choices=("square", "full"), default="square",
                    help="the centre square of each aligned image (default) or the whole frame, hair and neck "
                         "included, squeezed to a square")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the profile's")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--profile", default="cpu", help="profile for batch size, epochs and caps (default: cpu)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "real_subset")
    ap.add_argument("--results-md", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--section", default=MAIN,
                    help="the RESULTS.md section to rebuild from --out (default: %(default)s, the main table; "
                         "another name, e.g. real_subset_gpu with its own --out, adds a section beside it)")
    ap.add_argument("--runs", type=Path, default=Path("/tmp/faceattr_real_subset_runs"), help="run records")
    ap.add_argument("--resume", action="store_true", help="continue interrupted runs from their checkpoints")
    ap.add_argument("--skip-done", action="store_true", help="skip specs whose JSON file exists")
    ap.add_argument("--note", default="", help="printed under the table, e.g. 'machine shared with other jobs'")
    return ap.parse_args(argv)


def json_name(name: str, size: int, epochs: int, seeds: int, shift: int = 0, finetune_lr: float | None = None,
              schedule: str | None = None, finetune_epochs: int | None = None, finetune_bn: str | None = None,
              frame: str = "square", drop_path: float | None = None, teachers: list[Path] | None = None,
              teacher_weight: float = 1.0, shared_head: bool = False, layer_decay: float | None = None) -> str:
    """The file of one spec's run: every setting that makes it another row is in the name, so no run replaces
    another's (``frame``: "_full" for the whole frame; ``finetune_lr``, ``schedule``, ``finetune_epochs`` and
    ``finetune_bn``: only when set on the command line; the spec's own have no suffix; a phase 2 of its own
    length reads '3+6ep'; ``drop_path``: '_dp0.2'; ``layer_decay``: '_ld0.7'; ``teachers``: '_kd6-<digest of
    their folder names>', and 'w0.5' after it for a ``teacher_weight`` below 1; ``shared_head``: '_sharedhead').
    The stem also names the run records (``run_seed``)."""
    full = "_full" if frame == "full" else ""
    shifted = f"_shift{shift}" if shift else ""
    tuned = f"_ft{finetune_lr:g}" if finetune_lr else ""
    scheduled = f"_{schedule}" if schedule else ""
    phase2 = f"+{finetune_epochs}" if finetune_epochs else ""
    bn = f"_bn{finetune_bn}" if finetune_bn else ""
    dp = f"_dp{drop_path:g}" if drop_path else ""
    ld = f"_ld{layer_decay:g}" if layer_decay else ""
    kd = ""
    if teachers:
        digest = hashlib.sha1("\n".join(sorted(Path(t).name for t in teachers)).encode()).hexdigest()[:6]
        kd = f"_kd{len(teachers)}-{digest}" + (f"w{teacher_weight:g}" if teacher_weight != 1 else "")
    head = "_sharedhead" if shared_head else ""
    settings = f"{full}{shifted}{tuned}{scheduled}{bn}{dp}{ld}{kd}{head}"
    return f"{name}_{size}px{settings}_{epochs}{phase2}ep_{seeds}seeds.json"


def chosen(names: list[str]) -> list[str]:
    if names == ["all"]:
        return [n for n, s in SPECS.items() if s.default]
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise SystemExit(f"unknown model spec(s) {', '.join(unknown)}; choose from: all, {', '.join(SPECS)}")
    return names


def main(argv: list[str] | None = None) -> list[Path]:
    """Run the chosen specs, write one JSON each, rebuild the RESULTS.md section; the JSON paths."""
    args = parse(argv)
    names = chosen(args.models)
    without = [n for n in names if SPECS[n].model != "xception"]
    for option, given in (("--drop-path", args.drop_path), ("--teacher", args.teacher),
                          ("--shared-head", args.shared_head), ("--layer-decay", args.layer_decay)):
        if given and without:
            raise SystemExit(f"{option} applies to the transfer specs (lite0, lite2, xception_random), not to "
                             f"{', '.join(without)}: run those without it")
    if args.teacher and not 0.0 <= args.teacher_weight <= 1.0:
        raise SystemExit(f"--teacher-weight {args.teacher_weight:g}: use a value in [0, 1] (1: the teachers only)")
    if args.threads:
        torch.set_num_threads(args.threads)
    setup = config.resolve(profile=args.profile, data=args.data, runs_dir=args.runs)
    P = setup.profile
    base = train.TrainConfig(epochs=args.epochs or P.epochs, batch_size=args.batch_size or P.batch_size,
                             patience=args.patience, shift=args.shift)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/real_subset.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    loaded, taught, written = {}, {}, []
    for name in names:
        spec = SPECS[name]
        if spec.finetune_lr:  # the phase-2 options of the transfer specs
            given = dict(finetune_lr=args.finetune_lr, finetune_epochs=args.finetune_epochs,
                         finetune_bn=args.finetune_bn, finetune_layer_decay=args.layer_decay)
            spec = dataclasses.replace(spec, **{k: v for k, v in given.items() if v})
        if args.drop_path:
            spec = dataclasses.replace(spec, kwargs=dict(spec.kwargs, drop_path_rate=args.drop_path))
        spec = dataclasses.replace(spec, shared_head=args.shared_head)
        size, epochs = spec.size or args.size, spec.epochs or base.epochs
        if args.schedule:
            spec = dataclasses.replace(spec, train=dict(spec.train, schedule=args.schedule))
        frame = "square" if spec.crops else args.frame  # FaceNet's crops have boxes of their own
        path = args.out / json_name(name, size, epochs, args.seeds, shift=args.shift,
                                    finetune_lr=spec.finetune_lr if args.finetune_lr else None,
                                    schedule=args.schedule, finetune_epochs=spec.finetune_epochs,
                                    finetune_bn=args.finetune_bn if spec.finetune_lr else None,
                                    frame=frame, drop_path=args.drop_path, teachers=args.teacher,
                                    teacher_weight=args.teacher_weight, shared_head=args.shared_head,
                                    layer_decay=args.layer_decay)
        if args.skip_done and path.exists():
            print(f"{name}: {path} exists, skipped (--skip-done)")
            continue
        key = (spec.crops, size, frame)
        if key not in loaded:
            loaded[key] = load_data(spec, setup, size, frame)
        if args.teacher and key not in taught:  # the teachers score each input once, for every spec on it
            taught[key] = distilled(loaded[key], args.teacher, args.teacher_weight, size, frame)
        data, teaching = taught[key] if args.teacher else (loaded[key], {})
        cfg = dataclasses.replace(base, epochs=epochs, **{k: v for k, v in spec.train.items()
                                                          if not (k == "batch_size" and args.batch_size)})
        t0 = time.perf_counter()
        result = benchmark(name, spec, data, cfg, size, args.seeds, setup, args.resume, tag=path.stem, frame=frame)
        record = {"spec": name, "model": spec.model, "create_kwargs": spec.kwargs, "backbone": spec.backbone,
                  "finetune_lr": spec.finetune_lr, "finetune_epochs": spec.finetune_epochs,
                  "finetune_bn": spec.finetune_bn if spec.finetune_lr else None,
                  **({"finetune_layer_decay": spec.finetune_layer_decay} if spec.finetune_layer_decay else {}),
                  **({"shared_head": True} if spec.shared_head else {}),
                  "train_config": dataclasses.asdict(cfg), "img_size": size,
                  "frame": frame, **teaching,
                  "epochs": epochs, "seeds": list(range(args.seeds)), **result,
                  "data": {"root": str(setup.data_root), "source": setup.source, "profile": P.name,
                           **{f"n_{k}": len(v) for k, v in data.items()}},
                  "wall_s": time.perf_counter() - t0, "machine": machine(), "torch": torch.__version__,
                  "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command,
                  "note": args.note}
        path.write_text(json.dumps(record, indent=1) + "\n")
        written.append(path)
        update_results_md(args.out, args.results_md, args.section)
        print(f"{name}: wrote {path} ({record['wall_s'] / 60:.1f} min)", flush=True)
    update_results_md(args.out, args.results_md, args.section)
    if args.out.resolve() == REAL_SUBSET_RESULTS.resolve():  # the shipped results: README.md's table follows them
        readme_results.main([])
    return written


if __name__ == "__main__":
    main()
