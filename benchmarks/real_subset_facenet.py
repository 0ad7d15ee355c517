"""FaceNet on the course's real subset under its protocol (cpu profile), as notebook 02 trains it.

    OMP_NUM_THREADS=1 python benchmarks/real_subset_facenet.py /path/to/shared/data OUT.json

Trains on the official-train aligned images (type-A and type-B crops, ×4
augmentation), early-stops on val, scores the aligned official-test images
(protocol a) and, for FaceNet-40, the unaligned official-test crops (protocol b),
beside the majority baseline fitted on the subset's train labels.
"""
import json
import sys
import time

import torch

from faceattr_nb import config, experiments, metrics, models, train
from faceattr_nb.attributes import ATTRIBUTES, FACENET_ATTRIBUTES
from faceattr_nb.data.splits import load_crops


def facenet_config(epochs: int) -> train.TrainConfig:
    """Notebook 02's training settings for FaceNet."""
    return train.TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, optimizer="adam", schedule="cosine",
                             weight_decay=0.0, flip=False, seed=0)


def fit_facenet40(setup: config.Setup, crops: dict, epochs: int) -> tuple[train.Run, torch.nn.Module]:
    """Notebook 02's FaceNet-40 on type-B gray crops {"train", "val", "test", ...}: the run and the model."""
    torch.manual_seed(0)
    wide = models.create("facenet", attributes=ATTRIBUTES)
    run = train.fit(wide, crops["train"], crops["val"], facenet_config(epochs), test=crops["test"],
                    name="facenet40_typeB", setup=setup, progress=False, resume=False)
    return run, wide


def main(root: str, out: str) -> None:
    setup = config.resolve(profile="cpu", data=root, runs_dir="/tmp/runs_real_facenet")
    cfg = facenet_config(setup.profile.epochs)
    results = {}
    for kind in ("A", "B"):
        t0 = time.perf_counter()
        data = load_crops(setup, kind=kind)
        six = {k: v.select_attrs(FACENET_ATTRIBUTES) for k, v in data.items()}
        torch.manual_seed(0)
        run = train.fit(models.create("facenet"), six["train"], six["val"], cfg, test=six["test"],
                        name=f"facenet_type{kind}", setup=setup, progress=False, resume=False)
        results[f"facenet_type{kind}"] = {"report_scores": experiments.facenet_report_scores(run.metrics["test"]),
                                          **run.summary["test"], "seconds": time.perf_counter() - t0}
        if kind == "B":
            run, wide = fit_facenet40(setup, data, setup.profile.epochs)
            probs = train.predict(wide, data["test_b"])
            _, test_b = metrics.evaluate(data["test_b"].y.numpy(), probs, ATTRIBUTES,
                                         train_y=data["train"].y.numpy())
            results["facenet40_typeB"] = {"test_a": run.summary["test"], "test_b": test_b,
                                          "seconds": time.perf_counter() - t0}
        print(json.dumps(results, indent=1), flush=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:3])
