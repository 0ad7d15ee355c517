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


def main(root: str, out: str) -> None:
    setup = config.resolve(profile="cpu", data=root, runs_dir="/tmp/runs_real_facenet")
    cfg = train.TrainConfig(epochs=setup.profile.epochs, batch_size=64, lr=3e-3, optimizer="adam", schedule="cosine",
                            weight_decay=0.0, flip=False, seed=0)
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
            torch.manual_seed(0)
            wide = models.create("facenet", attributes=ATTRIBUTES)
            run = train.fit(wide, data["train"], data["val"], cfg, test=data["test"], name="facenet40_typeB",
                            setup=setup, progress=False, resume=False)
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
