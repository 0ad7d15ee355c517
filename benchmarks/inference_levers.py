"""Saved runs of ``benchmarks/real_subset.py``, scored with inference-time levers and no retraining.

    PYTHONPATH=$PWD python benchmarks/inference_levers.py RUN [RUN ...] [--data DIR]

RUN: run folders the benchmark wrote under ``--runs`` (``rs_<json stem>_s<seed>[_finetune]``), e.g. the seeds
of one spec. Each is scored on (a) the aligned official-test faces and (b) the unaligned crops, at the input
side and frame it was trained on, as trained and with
- flip: the mean of the probabilities on each face and on its mirror image (the flip the models were
  trained with, as test-time augmentation);
- mean of seeds: the mean of the runs' probabilities (an ensemble; with two runs or more; runs of several
  specs, recipes or input sides, e.g. Lite0's and Lite2's seeds, are named by spec, side and what differs in
  their recipe, and their mean is "mean of N runs": each run's probabilities on the same faces, each at its own
  input);
- model soups (``--soup``, runs of one spec): one network whose weights are the mean of the runs' weights,
  BatchNorm re-estimated on the training faces (``soups.py``): the uniform soup of all runs, and the greedy
  soup, which adds run after run, best on val first, while val accuracy does not fall;
- thresholds tuned on val: one threshold per attribute maximising accuracy on the official-val images
  (``thresholds.tune_thresholds``), frozen, then applied to the test faces (notebook 07's method).
Every row: mean accuracy with its 95 % bootstrap interval over test identities, and its difference from the
first run as trained (threshold 0.5) with a paired interval (the same identities resampled for both). Writes
OUT/<name>.json and rebuilds the section between the markers of RESULTS.md from every JSON file in OUT.
"""
import argparse
import json
import re
import shlex
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from real_subset import HERE, default_data, fmt, machine, minutes, run_input, test_splits  # beside this script
from results_md import replace_section

from faceattr_nb import config, metrics, soups, train
from faceattr_nb.data.splits import load_splits
from faceattr_nb.thresholds import apply_thresholds, tune_thresholds

BEGIN, END = "<!-- inference_levers:begin -->", "<!-- inference_levers:end -->"


def spec_of(run: Path) -> str:
    """The spec a run folder of real_subset.py belongs to: 'lite2' of 'rs_lite2_192px_..._s0_finetune'."""
    return re.sub(r"_\d+px.*$", "", run.name.removeprefix("rs_"))


def recipe_of(run: Path) -> list[str]:
    """The recipe tokens of a run folder, without its spec, input side and seed:
    ['ft0.002', 'cosine', 'bnfaces', 'dp0.2', '3ep', '3seeds', 'finetune'] of
    'rs_lite2_192px_ft0.002_cosine_bnfaces_dp0.2_3ep_3seeds_s0_finetune'."""
    rest = re.sub(r"^.*?_\d+px", "", run.name.removeprefix("rs_"))
    return [t for t in rest.split("_") if t and not re.fullmatch(r"s\d+", t)]


def run_labels(runs: list[Path]) -> list[str]:
    """What tells each run apart from the others given: its seed alone for the seeds of one recipe ('seed 0');
    else its spec, its input side when the sides differ, the recipe tokens not shared by every run (without the
    seed count, 'Nseeds'), and its seed ('lite0 seed 0', 'lite2 dp0.2 seed 0', 'lite2 256px seed 0')."""
    recipes = [recipe_of(run) for run in runs]
    sides = [re.search(r"_(\d+px)", run.name).group(1) for run in runs]
    shared = set.intersection(*map(set, recipes))
    mixed = len({spec_of(run) for run in runs}) > 1 or len(set(sides)) > 1 or any(set(r) - shared for r in recipes)
    labels = []
    for run, side, recipe in zip(runs, sides, recipes):
        seed = json.loads((run / "record.json").read_text())["config"]["seed"]
        parts = [spec_of(run)] * mixed + [side] * (len(set(sides)) > 1)
        parts += [t for t in recipe if t not in shared and not re.fullmatch(r"\d+seeds", t)]
        labels.append(" ".join([*parts, f"seed {seed}"]))
    return labels


def predictions(runs: list[Path], data: dict, batch_size: int = 64, models: list[torch.nn.Module] | None = None,
                inputs: list[dict] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """{variant: {split: probs (N, A)}} on val and the test splits: each run as trained and flipped, then the
    mean of the runs' probabilities (both ways) when there are several. Runs of one recipe are named by their
    seed ("seed 0"), others also by spec, input side and what differs in their recipe (``run_labels``: "lite2
    seed 0", "lite2 dp0.2 seed 0", "lite2 256px seed 0"), and their mean is then "mean of N runs". ``models``:
    the runs already loaded (``train.load_model``), else loaded here; ``inputs``: the splits each run is scored
    on, the same faces at its own input side (default: ``data`` for every run)."""
    splits = ["val", *test_splits(data)]
    labels = run_labels(runs)
    for label, count in Counter(labels).items():
        if count > 1:
            clash = [str(run) for run, other in zip(runs, labels) if other == label]
            raise SystemExit(f"two runs would both be '{label}' ({', '.join(clash)}): give runs of different "
                             "seeds or recipes")
    mixed = any(label != f"seed {label.split()[-1]}" for label in labels)
    out, members = {}, {"": [], ", flip": []}
    models = models or [train.load_model(run) for run in runs]
    for model, label, faces in zip(models, labels, inputs or [data] * len(runs)):
        for flip, p in as_trained_and_flipped(model, faces, splits, batch_size).items():
            out[f"{label}{flip}"] = p
            members[flip].append(p)
    if len(runs) > 1:
        for flip, ps in members.items():
            out[f"mean of {len(runs)} {'runs' if mixed else 'seeds'}{flip}"] = {
                s: np.mean([p[s] for p in ps], axis=0) for s in splits}
    return out


def soup_predictions(runs: list[Path], data: dict, batch_size: int = 64, models: list[torch.nn.Module] | None = None,
                     probs: dict[str, dict[str, np.ndarray]] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """{variant: {split: probs}} of the runs' model soups (``soups.py``), as trained and flipped: the uniform soup
    of all runs, and the greedy soup chosen on val, named by its ingredients. BatchNorm is re-estimated on
    ``data["train"]``. ``models`` and ``probs``: the runs loaded and their ``predictions``, when the caller has
    them; the greedy soup then takes the runs' val accuracies from ``probs``, and the rows of a greedy soup of
    one run (that run) or of all runs (the uniform soup) are copied, not scored again."""
    if len({spec_of(run) for run in runs}) > 1:
        raise SystemExit("--soup averages weights: give runs of one spec (one architecture), e.g. its seeds")
    splits, labels = ["val", *test_splits(data)], run_labels(runs)
    kind = "seeds" if all(label == f"seed {label.split()[-1]}" for label in labels) else "runs"
    models = models or [train.load_model(run) for run in runs]
    probs = probs or predictions(runs, data, batch_size, models)
    val_y = data["val"].y.cpu().numpy()
    scores = [metrics.mean_accuracy(val_y, probs[label]["val"]) for label in labels]  # as soups.accuracy measures
    greedy, chosen = soups.greedy_soup(models, data["train"], data["val"], batch_size, scores=scores)
    # a greedy soup of every run is the uniform soup, already averaged and its BatchNorm re-estimated
    uniform_soup = greedy if len(chosen) == len(runs) > 1 else soups.uniform_soup(models, data["train"], batch_size)
    uniform = f"uniform soup of {len(runs)} {kind}"
    out = {f"{uniform}{flip}": p for flip, p in as_trained_and_flipped(uniform_soup, data, splits, batch_size).items()}
    name = f"greedy soup ({', '.join(labels[i] for i in chosen)})"
    for flip in ("", ", flip"):
        if len(chosen) == 1:  # the best run on val alone: that network
            out[f"{name}{flip}"] = probs[f"{labels[chosen[0]]}{flip}"]
        elif len(chosen) == len(runs):  # every run: the uniform soup's weights
            out[f"{name}{flip}"] = out[f"{uniform}{flip}"]
    if name not in out:
        out |= {f"{name}{flip}": p for flip, p in as_trained_and_flipped(greedy, data, splits, batch_size).items()}
    return out


def as_trained_and_flipped(model: torch.nn.Module, data: dict, splits: list[str],
                           batch_size: int) -> dict[str, dict[str, np.ndarray]]:
    """{"": probs, ", flip": the mean of the probs on each face and its mirror image}, each {split: (N, A)}."""
    plain = {s: train.predict(model, data[s], batch_size) for s in splits}
    return {"": plain, ", flip": {s: (plain[s] + train.predict(model, data[s].mirrored(), batch_size)) / 2
                                  for s in splits}}


def score(probs: dict[str, dict[str, np.ndarray]], data: dict) -> list[dict]:
    """One row per variant and threshold rule: val accuracy, and per test split the accuracy interval and the
    paired difference from the first variant at 0.5."""
    splits = test_splits(data)
    y = {s: data[s].y.numpy() for s in ["val", *splits]}
    first = next(iter(probs.values()))
    reference = {s: apply_thresholds(first[s], 0.5) == y[s] for s in splits}  # (N, A) correct
    rows = []
    for variant, p in probs.items():
        for rule in ("0.5", "tuned on val"):
            t = 0.5 if rule == "0.5" else tune_thresholds(y["val"], p["val"], metric="accuracy")
            row = {"variant": variant, "thresholds": rule,
                   "val": float((apply_thresholds(p["val"], t) == y["val"]).mean())}
            for s in splits:
                correct = apply_thresholds(p[s], t) == y[s]
                row[s] = metrics.bootstrap_mean(correct, data[s].identity)
                row[f"{s}_diff"] = metrics.bootstrap_mean(correct.astype(np.float64) - reference[s],
                                                          data[s].identity)
            rows.append(row)
    return rows


def render(records: list[dict]) -> str:
    """The RESULTS.md section (markers included): one table per JSON record."""
    lines = [BEGIN, "## Inference-time levers on saved runs: `benchmarks/inference_levers.py`", "",
             "Generated by `benchmarks/inference_levers.py` from `benchmarks/results/inference_levers/`; do not edit "
             "by hand. Saved real-subset runs re-scored without retraining: as trained, with flip (the mean of the "
             "probabilities on each face and its mirror image), as the mean of several seeds' probabilities, as a "
             "model soup (one network whose weights are the runs' mean, BatchNorm re-estimated on the training "
             "faces; the greedy soup keeps a run only when val accuracy does not fall; `--soup`), each at threshold "
             "0.5 and with one threshold per attribute tuned for accuracy on the official-val images. "
             "Accuracy: mean over the 40 attributes [95 % bootstrap interval over test identities]; vs first: the "
             "difference from the first row on the same faces [paired interval]. Val accuracy of a tuned row is "
             "measured on the images its thresholds were tuned on, so it flatters.", ""]
    for r in records:
        lines += [f"### {r['name']}", "", f"Runs: {', '.join(f'`{p}`' for p in r['runs'])}; {r['machine']}, "
                  f"{r['date'][:10]}, {minutes(r['wall_s'])}; `{r['command']}`", "",
                  "| variant | thresholds | val accuracy | (a) accuracy | (a) vs first | (b) accuracy | (b) vs first |",
                  "|" + "---|" * 7]
        for row in r["rows"]:
            lines.append("| " + " | ".join([row["variant"], row["thresholds"], f"{100 * row['val']:.2f}%",
                                             fmt(row.get("test")), fmt_diff(row.get("test_diff")),
                                             fmt(row.get("test_b")), fmt_diff(row.get("test_b_diff"))]) + " |")
        lines += [""] + ([f"Note: {r['note']}", ""] if r.get("note") else [])
    return "\n".join(lines[:-1] + [END])


def fmt_diff(ci: dict | None) -> str:
    """A difference in points, '+0.12 [-0.05, +0.30]', or '-'."""
    if not ci:
        return "-"
    return f"{100 * ci['mean']:+.2f} [{100 * ci['low']:+.2f}, {100 * ci['high']:+.2f}]"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="run folders of real_subset.py (e.g. the seeds of one spec)")
    ap.add_argument("--name", default=None, help="the JSON file's stem and the table's title (default: the first "
                                                 "run's folder name without its seed)")
    ap.add_argument("--data", default=default_data(), help="the folder the runs were trained on (default: %(default)s)")
    ap.add_argument("--profile", default="cpu", help="the profile the runs were trained with (default: cpu)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "inference_levers")
    ap.add_argument("--results-md", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--soup", action="store_true",
                    help="also the runs' model soups (one network: their weights averaged, BatchNorm re-estimated on "
                         "the training faces): the uniform soup and the greedy soup chosen on val; runs of one spec")
    ap.add_argument("--note", default="", help="printed under the table")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    seen = [run_input([run]) for run in args.runs]  # (input side, frame) of each run
    if args.soup and len(set(seen)) > 1:
        raise SystemExit(f"--soup re-estimates BatchNorm on one set of training images: give runs of one input "
                         f"size and frame (these have {', '.join(f'{s} px {f}' for s, f in sorted(set(seen)))})")
    t0 = time.perf_counter()
    setup = config.resolve(profile=args.profile, data=args.data, runs_dir=args.runs[0].parent)
    wanted = ("train", "val", "test", "test_b") if args.soup else ("val", "test", "test_b")
    by_input = {(size, frame): load_splits(setup, img_size=size, square=frame == "square", splits=wanted)
                for size, frame in dict.fromkeys(seen)}  # each run is scored on the same faces at its own input
    data = by_input[seen[0]]
    for faces in by_input.values():  # one face per row in every input: the probabilities can be averaged
        if any(list(faces[s].ids) != list(data[s].ids) for s in data):
            raise RuntimeError("the splits at two input sides hold other faces or another order: "
                               "load_splits must keep the same images in the same order at every side")
    models = [train.load_model(run) for run in args.runs]  # each run loaded once, for its rows and its soups
    probs = predictions(args.runs, data, args.batch_size, models, inputs=[by_input[i] for i in seen])
    if args.soup:
        probs |= soup_predictions(args.runs, data, args.batch_size, models, probs)
    rows = score(probs, data)
    name = args.name or args.runs[0].name.replace("_s0_", "_").removeprefix("rs_")
    command = "python benchmarks/inference_levers.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    record = {"name": name, "runs": [p.name for p in args.runs], "rows": rows, "wall_s": time.perf_counter() - t0,
              "machine": machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": command, "note": args.note}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    records = [json.loads(p.read_text()) for p in sorted(args.out.glob("*.json"))]
    replace_section(args.results_md, BEGIN, END, render(records))
    for row in rows:
        print(f"{row['variant']:>22} | {row['thresholds']:>12} | val {100 * row['val']:.2f}% | "
              + " | ".join(f"{s} {fmt(row[s])} vs first {fmt_diff(row[s + '_diff'])}"
                           for s in test_splits(data)), flush=True)
    return record


if __name__ == "__main__":
    main()
