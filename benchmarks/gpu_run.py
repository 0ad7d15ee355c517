"""GPU checks in one command: throughput at the gpu profile's sizes, and the course's runs on real faces.

Run from the repository root on a CUDA machine (the real-subset runs also work on a CPU, slowly):

    python benchmarks/gpu_run.py --out OUTDIR [--real PATH_TO_SHARED_DATA] [--epochs N]

1. throughput: for every model at the gpu profile's input size, two short
   ``train.fit`` epochs on generated faces (bf16 autocast, channels_last,
   cache on the GPU); training images/s of the second epoch, inference
   ms/image (batch 32) and parameters.
2. real subset (when --real is given): every model of notebooks 02-06 with
   the cpu profile's sizes and the notebooks' optimiser settings, trained on
   the official-train aligned images, early-stopped on val, scored on the
   aligned official-test images beside the majority baseline.

Writes OUTDIR/gpu_results.json and OUTDIR/records.tar.gz (the run records).
"""
import argparse
import dataclasses
import json
import tarfile
import time
from pathlib import Path

import torch
from real_subset_facenet import fit_facenet40  # beside this script

from faceattr_nb import config, models, train
from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data import synthetic
from faceattr_nb.data.splits import load_crops, load_splits

PARTIAL = Path("/tmp/real_subset_partial.json")  # results so far, in case the command is cut off
THROUGHPUT = {  # name: (create() arguments, gpu-profile input side, batch size, gray)
    "facenet40": (dict(attributes=ATTRIBUTES), 36, 256, True),
    "scratch_cnn": (dict(), 150, 128, False),
    "xception": (dict(backbone="legacy_xception"), 150, 128, False),
    "pse_dmtl": (dict(pse="conv", backbone="legacy_seresnet18", img_size=224), 224, 128, False),
    "gal": (dict(variant="j", backbone="resnet18", img_size=256), 256, 64, False),
    "blan": (dict(backbone="resnet34", img_size=256), 256, 64, False),
}


def throughput(root: Path, runs_dir: Path) -> dict:
    setup = config.resolve(profile="gpu", data=root, runs_dir=runs_dir)
    out = {}
    for name, (kw, size, batch, gray) in THROUGHPUT.items():
        data = load_splits(setup, img_size=size, gray=gray)
        torch.manual_seed(0)
        model = models.create(name.replace("40", ""), **kw)
        cfg = train.TrainConfig(epochs=2, batch_size=batch, lr=1e-3, optimizer="adamw", max_steps_per_epoch=10)
        run = train.fit(model, data["train"], data["val"], cfg, name=f"gpu_{name}", setup=setup, progress=False,
                        resume=False)
        out[name] = {"img_size": size, "batch_size": batch, "train_images_per_s": run.history["images_per_s"].iloc[-1],
                     "ms_per_image": run.record["ms_per_image"], "params": run.record["params"],
                     "flops": run.record["flops"]}
        print(name, out[name], flush=True)
        del model, data
        torch.cuda.empty_cache()
    return out


def real_subset(root: Path, runs_dir: Path, epochs: int | None, only: list[str] | None = None) -> dict:
    setup = config.resolve(profile="cpu", data=root, runs_dir=runs_dir)
    P = setup.profile
    epochs = epochs or P.epochs
    size = P.img_size
    data = load_splits(setup, img_size=size)
    data.pop("test_b", None)
    base = train.TrainConfig(epochs=epochs, batch_size=P.batch_size, seed=0)
    specs = {  # run name: (model, create() arguments, TrainConfig changes) as in notebooks 02-06
        "scratch_cnn": ("scratch_cnn", {}, dict(lr=1e-3, optimizer="adam", weight_decay=0.0)),
        "pse_baseline": ("pse_dmtl", dict(pse=None, img_size=size), dict(lr=2e-3, schedule="cosine")),
        "pse_fc": ("pse_dmtl", dict(pse="fc", img_size=size), dict(lr=2e-3, schedule="cosine")),
        "pse_conv": ("pse_dmtl", dict(pse="conv", img_size=size), dict(lr=2e-3, schedule="cosine")),
        "gal_baseline": ("gal", dict(variant="baseline", img_size=size), dict(lr=1e-3, weight_decay=5e-4,
                                                                             schedule="cosine")),
        "gal_j": ("gal", dict(variant="j", img_size=size), dict(lr=1e-3, weight_decay=1e-3, schedule="cosine")),
        "gal_p": ("gal", dict(variant="p", img_size=size), dict(lr=1e-3, weight_decay=1e-3, schedule="cosine")),
        "blan": ("blan", dict(backbone="resnet18", width=0.5, lmim_hidden=128, img_size=size),
                 dict(lr=1e-3, optimizer="adam", weight_decay=0.0, schedule="poly", power=1.0)),
    }
    out = {}
    for run_name, (name, kw, changes) in specs.items():
        if only and run_name not in only:
            continue
        torch.manual_seed(0)
        t0 = time.perf_counter()
        run = train.fit(models.create(name, **kw), data["train"], data["val"], dataclasses.replace(base, **changes),
                        test=data["test"], name=run_name, setup=setup, progress=False, resume=False)
        out[run_name] = {**run.summary["test"], "epochs_run": len(run.history), "seconds": time.perf_counter() - t0}
        print(run_name, out[run_name], flush=True)
        PARTIAL.write_text(json.dumps(out, indent=1))
        if run_name == "gal_baseline":  # GAL-c: FLN from the baseline run, frozen
            torch.manual_seed(0)
            gal_c = models.create("gal", variant="c", img_size=size).load_fln(run.path.parent)
            run_c = train.fit(gal_c, data["train"], data["val"], dataclasses.replace(base, **specs["gal_j"][2]),
                              test=data["test"], name="gal_c", setup=setup, progress=False, resume=False)
            out["gal_c"] = {**run_c.summary["test"], "epochs_run": len(run_c.history)}
            print("gal_c", out["gal_c"], flush=True)
    # notebook 03: the transfer model, frozen then fine-tuned (random ImageNet-less backbone: no internet)
    if not only or "xception" in only:
        out.update(transfer(data, base, setup))
    if only and "facenet40_typeB" not in only:
        return out
    out["facenet40_typeB"] = facenet40(setup, epochs)
    return out


def transfer(data: dict, base: train.TrainConfig, setup: config.Setup) -> dict:
    """Notebook 03's transfer model on the real subset: frozen, then fine-tuned."""
    out = {}
    torch.manual_seed(0)
    # random base (no internet): BatchNorm keeps batch statistics in phase 1, as notebook 03 does
    xcp = models.create("xception", backbone="legacy_xception").freeze_backbone(bn_eval=False)
    cfg = dataclasses.replace(base, lr=1e-3, optimizer="adam", weight_decay=0.0)
    run = train.fit(xcp, data["train"], data["val"], cfg, test=data["test"], name="xception_frozen", setup=setup,
                    progress=False, resume=False)
    out["xception_frozen"] = {**run.summary["test"], "epochs_run": len(run.history)}
    PARTIAL.write_text(json.dumps(out, indent=1))
    run = train.fit(xcp.unfreeze_backbone(bn_eval=False), data["train"], data["val"], dataclasses.replace(cfg, lr=1e-4),
                    test=data["test"], name="xception_finetune", setup=setup, progress=False, resume=False)
    out["xception_finetune"] = {**run.summary["test"], "epochs_run": len(run.history)}
    print("xception", out["xception_frozen"], out["xception_finetune"], flush=True)
    return out


def facenet40(setup: config.Setup, epochs: int) -> dict:
    """Notebook 02's FaceNet-40 on type-B gray crops of the real subset (real_subset_facenet.py's run)."""
    run, _ = fit_facenet40(setup, load_crops(setup, kind="B"), epochs)
    print("facenet40_typeB", run.summary["test"], flush=True)
    return run.summary["test"]


def epoch_sweep(runs_dir: Path, epochs: int = 30) -> dict:
    """How many epochs the cpu profile needs: val accuracy per epoch on 3,000 generated faces at 64 px."""
    root = synthetic.generate(Path("/tmp/faceattr_cpu_synthetic"), 3000, seed=0, progress=False)
    setup = config.resolve(profile="cpu", data=root, runs_dir=runs_dir)
    data = load_splits(setup, img_size=64)
    out = {}
    for name, kw, lr in (("pse_dmtl", dict(pse="conv", img_size=64), 2e-3), ("scratch_cnn", {}, 1e-3)):
        torch.manual_seed(0)
        cfg = train.TrainConfig(epochs=epochs, batch_size=64, lr=lr, schedule="cosine", seed=0)
        run = train.fit(models.create(name, **kw), data["train"], data["val"], cfg, test=data["test"],
                        name=f"sweep_{name}", setup=setup, progress=False, resume=False)
        out[name] = {"val_accuracy": run.history["val_accuracy"].round(4).tolist(),
                     "test": run.summary["test"],
                     "test_attrs": run.metrics["test"].loc[["Eyeglasses", "Wearing_Hat", "Smiling"],
                                                           ["accuracy", "majority_accuracy"]].to_dict()}
        print("sweep", name, out[name], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--real", type=Path, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--sweep", action="store_true", help="also run the cpu profile's epoch sweep")
    ap.add_argument("--only", nargs="*", default=None,
                    help="real-subset runs to do (e.g. xception facenet40_typeB); default: all")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs_dir = args.out / "runs"
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    results = {"device": device, "torch": torch.__version__}
    if not args.skip_throughput:
        root = synthetic.generate(Path("/tmp/faceattr_gpu_synthetic"), 800, seed=0, progress=False)
        results["throughput"] = throughput(root, runs_dir)
        (args.out / "gpu_results.json").write_text(json.dumps(results, indent=1))
    if args.sweep:
        results["epoch_sweep"] = epoch_sweep(runs_dir)
        (args.out / "gpu_results.json").write_text(json.dumps(results, indent=1))
    if args.real:
        results["real_subset"] = real_subset(args.real, runs_dir, args.epochs, args.only)
    (args.out / "gpu_results.json").write_text(json.dumps(results, indent=1))
    with tarfile.open(args.out / "records.tar.gz", "w:gz") as tar:
        for record in runs_dir.glob("*/record.json"):
            tar.add(record, arcname=f"{record.parent.name}/record.json")


if __name__ == "__main__":
    main()
