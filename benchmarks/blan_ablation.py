"""BLAN's Table 4 ablation as notebook 06 trains it (cpu profile on generated faces), one JSON row per run.

    OMP_NUM_THREADS=1 python benchmarks/blan_ablation.py OUT.json [--extra] [--epochs N] [--only a,b]

The runs, settings and seeds of notebook 06 (resnet18 at width 0.5, 64 px,
Adam 1e-3 with linear decay, the profile's epochs). ``--extra`` adds BLAN with
alpha = beta = 4: the balance of eq. (8) before eqs. (4) and (7) summed over
the 40 attributes (the old mean over attributes is l_TOT / 40 with those
weights, the same up to Adam's scale invariance). ``--epochs`` overrides the
profile's 12, ``--only`` picks runs by name. Results are written after every
run, so a cut-off run keeps what finished.
"""
import json
import sys
import time
import warnings

import torch

from faceattr_nb import config, metrics, models, train
from faceattr_nb.data.splits import load_splits

ABLATION = {  # run name: (Table 4 index, parts, create() arguments), as in notebook 06
    "blan_enc": (1, "Enc", dict(decoder=False, fusion=False, alpha=0.0)),
    "blan_enc_lmim": (2, "Enc+LMIM", dict(decoder=False, fusion=False)),
    "blan_no_rdam": (4, "Enc+LMIM+Dec", dict(rdam=False, fusion=False)),
    "blan_no_sf": (5, "Enc+LMIM+Dec+RDAM", dict(fusion=False)),
    "blan": (6, "Enc+LMIM+Dec+RDAM+SF", dict()),
}
EXTRA = {"blan_old_balance": ("6, alpha = beta = 4", "BLAN, the old balance", dict(alpha=4.0, beta=4.0))}


def main(out: str, extra: bool, epochs: int | None, only: list[str] | None) -> None:
    warnings.simplefilter("ignore", UserWarning)  # random-backbone warnings: the cpu profile has no weights
    setup = config.resolve(profile="cpu", runs_dir="/tmp/runs_blan_ablation")
    P = setup.profile
    arch = dict(backbone="resnet18", width=0.5, lmim_hidden=128, img_size=P.size_for("blan"))
    data = load_splits(setup, img_size=arch["img_size"])
    cfg = train.TrainConfig(epochs=epochs or P.epochs, batch_size=P.batch_size, lr=1e-3, optimizer="adam",
                            weight_decay=0.0, schedule="poly", power=1.0, flip=True, seed=setup.seed)
    results = {"majority": metrics.majority_summary(data["train"].y.numpy(), data["test"].y.numpy()),
               "setup": setup.describe(), "threads": torch.get_num_threads()}
    for name, (index, parts, kw) in {**ABLATION, **(EXTRA if extra else {})}.items():
        if only and name not in only:
            continue
        torch.manual_seed(setup.seed)
        t0 = time.perf_counter()
        run = train.fit(models.create("blan", **arch, **kw), data["train"], data["val"], cfg, test=data["test"],
                        name=name, setup=setup, progress=False, resume=False)
        results[name] = {"index": index, "parts": parts, **run.summary["test"], "epochs_run": len(run.history),
                         "seconds": round(time.perf_counter() - t0, 1)}
        print(name, results[name], flush=True)
        with open(out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    args = sys.argv[2:]
    option = {k: args[args.index(k) + 1] for k in ("--epochs", "--only") if k in args}
    main(sys.argv[1], "--extra" in args, int(option["--epochs"]) if "--epochs" in option else None,
         option["--only"].split(",") if "--only" in option else None)
