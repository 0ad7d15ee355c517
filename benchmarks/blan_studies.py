"""BLAN's other studies at notebook 06's cpu-profile size: Table 5, Table 6 and the over-fitting suppression.

    PYTHONPATH=$PWD python benchmarks/blan_studies.py --out benchmarks/results/blan_studies [--epochs 12]
        [--only blan blan_spt_chn ...] [--data PATH] [--threads 2]

Every run is notebook 06's full BLAN in the cpu profile (resnet18 at width
0.5, 64 px, Adam 1e-3 with linear decay, seed 0, flips) with one setting
changed:

* Table 5, the order of RDAM's attentions: ``blan`` (Chn-Spt, the paper's),
  ``blan_spt_chn``, ``blan_parallel``;
* Table 6, the weights of eq. (8): alpha (LMIM) and beta (reconstruction) in
  {1, 0.1, 0.01}; ``blan`` is alpha = beta = 0.1;
* the over-fitting suppression scheme of Sec. 4.2 (dropout 0.5 in each
  classifier, ImageNet weights, random mirroring): ``blan_wo_os`` has no
  dropout and no flips. No ImageNet ResNet can be had offline, so here both
  runs start from random weights: "w/ OS" keeps only dropout and mirroring.

The paper runs Tables 5 and 6 on LFWA; we run them on the profile's data
(the generated faces, or ``--data``). Each run is scored on the test split
with a 95 % bootstrap interval over test identities, and against ``blan``
with the paired difference (``metrics.paired_difference_ci``): a setting
"differs" only when that interval excludes 0. One JSON per run in OUT,
and its test probabilities (``.npz``) so that the paired
differences can be recomputed and a cut-off command resumes with the runs
that finished, then the section
between the markers of RESULTS.md is rebuilt.
"""
import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from results_md import replace_section  # benchmarks/results_md.py, beside this script

from faceattr_nb import config, metrics, models, paper_results, train
from faceattr_nb.data.splits import load_splits

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- blan_studies:begin -->", "<!-- blan_studies:end -->"
ARCH = dict(backbone="resnet18", width=0.5, lmim_hidden=128)  # notebook 06, cpu profile

# run name: (study, the paper's row it mirrors, create() changes, TrainConfig changes)
RUNS = {
    "blan": ("reference", "Chn-Spt, alpha = beta = 0.1, w/ OS", {}, {}),
    "blan_spt_chn": ("Table 5", "Spt-Chn", dict(attention_order="spt_chn"), {}),
    "blan_parallel": ("Table 5", "Chn~Spt", dict(attention_order="parallel"), {}),
    **{f"blan_a{a}_b{b}": ("Table 6", f"alpha={a}, beta={b}", dict(alpha=a, beta=b), {})
       for b in (1, 0.1, 0.01) for a in (1, 0.1, 0.01) if (a, b) != (0.1, 0.1)},
    "blan_wo_os": ("OS", "w/o OS (no dropout, no flips)", dict(dropout=0.0), dict(flip=False)),
}


def paper_value(study: str, row: str) -> float | None:
    """The paper's LFWA figure for this row (Tables 5 and 6; the OS rows from Table 3), else None."""
    if study == "Table 5":
        t = paper_results.blan_table5()
        return float(t[(t.method == f"BLAN, {row}") & (t.setting == "w/ OS")].value.iloc[0])
    if study == "Table 6":
        t = paper_results.blan_table6()
        return float(t[t.setting == row].value.iloc[0])
    t = paper_results.blan_table3()
    method = "BLAN (w/o OS)" if study == "OS" else "BLAN (w/ OS)"
    return float(t[(t.method == method) & (t.dataset == "LFWA")].value.iloc[0])


def run_one(name: str, setup: config.Setup, data: dict, cfg: train.TrainConfig, out: Path) -> dict:
    study, row, create_kw, cfg_kw = RUNS[name]
    torch.manual_seed(setup.seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random-backbone warning: no ImageNet ResNet offline
        model = models.create("blan", **ARCH, img_size=setup.profile.size_for("blan"), **create_kw)
    run = train.fit(model, data["train"], data["val"], dataclasses.replace(cfg, **cfg_kw),
                    test=data["test"], name=f"studies_{name}", setup=setup, progress=False, resume=False)
    probs = train.predict(model, data["test"])
    record = {"name": name, "study": study, "row": row, "create": create_kw, "train": cfg_kw,
              "epochs": cfg.epochs, "best_epoch": int(run.history["val_loss"].idxmin()) + 1,
              "test": {k: run.summary["test"][k] for k in ("mean_accuracy", "mean_balanced_accuracy", "macro_f1")},
              "seconds": round(time.perf_counter() - t0, 1)}
    np.savez_compressed(out / f"{name}.npz", probs=probs.astype(np.float32))  # test probabilities
    (out / f"{name}.json").write_text(json.dumps(record, indent=1))
    return {**record, "probs": probs}


def render(records: dict[str, dict], data: dict, meta: dict) -> str:
    """The markdown section: one row per run, the paired difference against ``blan``."""
    y, ident = data["test"].y.numpy(), data["test"].identity
    ref = np.asarray(records["blan"]["probs"], dtype=np.float32) if "blan" in records else None
    majority = metrics.majority_summary(data["train"].y.numpy(), y)["mean_accuracy"] * 100
    lines = [BEGIN, "## BLAN's Tables 5 and 6 and the over-fitting suppression: `benchmarks/blan_studies.py`", "",
             f"`{meta['command']}` on {meta['machine']}, {meta['date']}, {meta['threads']} torch threads; "
             f"{meta['data']}. Generated by the script; do not edit by hand. Notebook 06's full BLAN in the cpu "
             f"profile ({ARCH['backbone']} at width {ARCH['width']}, {meta['size']} px, random weights, "
             f"{meta['epochs']} epochs, seed 0) with one setting changed per row; test split of "
             f"{len(y)} faces of {len(np.unique(ident))} people, majority baseline {majority:.2f}%. "
             "[95 % bootstrap interval over test identities]; the last column is the paired difference from "
             "the reference run `blan` on the same faces (a setting differs only when its interval excludes 0). "
             "The paper's column is its LFWA figure (Tables 5 and 6 w/ OS; the OS rows: Table 3); "
             "its CelebA-trained networks start from ImageNet.", "",
             "| run | study | setting | test mean accuracy | minus `blan` (points) | paper, LFWA | "
             "balanced acc. | macro F1 | best epoch | wall time |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in RUNS:
        if name not in records:
            continue
        r = records[name]
        probs = np.asarray(r["probs"], dtype=np.float32)
        ci = metrics.accuracy_ci(y, probs, ident, seed=0)
        if ref is not None and name != "blan":
            d = metrics.paired_difference_ci(y, probs, ref, ident, seed=0)
            diff = f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]"
        else:
            diff = "-"
        paper = paper_value(r["study"] if name != "blan" else "reference", r["row"])
        lines.append(f"| {name} | {r['study']} | {r['row']} | {100 * ci['mean']:.2f}% "
                     f"[{100 * ci['low']:.1f}, {100 * ci['high']:.1f}] | {diff} | {paper:.2f}% | "
                     f"{100 * r['test']['mean_balanced_accuracy']:.2f}% | {r['test']['macro_f1']:.3f} | "
                     f"{r['best_epoch']} of {r['epochs']} | {r['seconds'] / 60:.1f} min |")
    return "\n".join(lines + [END])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "blan_studies")
    ap.add_argument("--epochs", type=int, default=None, help="default: the cpu profile's")
    ap.add_argument("--only", nargs="*", default=None, help=f"run names: {', '.join(RUNS)}")
    ap.add_argument("--data", default=None, help="a CelebA / real-subset folder (default: the generated faces)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--skip-done", action="store_true", help="keep runs whose JSON is already in OUT")
    ap.add_argument("--runs", type=Path, default=Path(tempfile.gettempdir()) / "faceattr_blan_studies",
                    help="run folders (weights; not kept with the results)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    unknown = sorted(set(args.only or []) - set(RUNS))
    if unknown:
        ap.error(f"unknown run(s) {unknown}; choose from {', '.join(RUNS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    setup = config.resolve(profile="cpu", data=args.data, runs_dir=args.runs)
    size = setup.profile.size_for("blan")
    data = load_splits(setup, img_size=size)
    cfg = train.TrainConfig(epochs=args.epochs or setup.profile.epochs, batch_size=setup.profile.batch_size,
                            lr=1e-3, optimizer="adam", weight_decay=0.0, schedule="poly", power=1.0, flip=True,
                            seed=setup.seed)
    for name in args.only or RUNS:
        if args.skip_done and (args.out / f"{name}.json").exists():
            continue
        r = run_one(name, setup, data, cfg, args.out)
        print(f"{name}: {100 * r['test']['mean_accuracy']:.2f}% in {r['seconds'] / 60:.1f} min", flush=True)
    records = {p.stem: {**json.loads(p.read_text()), "probs": np.load(p.with_suffix(".npz"))["probs"]}
               for p in sorted(args.out.glob("*.json")) if p.stem in RUNS}
    meta = {"command": "python benchmarks/blan_studies.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": f"{os.cpu_count()}-core CPU machine", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "threads": torch.get_num_threads(), "epochs": cfg.epochs, "size": size,
            "data": f"{setup.source} data ({len(data['train'])} training faces)"}
    replace_section(args.results, BEGIN, END, render(records, data, meta))


if __name__ == "__main__":
    main()
