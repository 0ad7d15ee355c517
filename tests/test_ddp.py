"""Data-parallel fit: 2 CPU processes under torchrun (gloo) end with the weights of one process.

The test launches this file with ``python -m torch.distributed.run`` (the
``torchrun`` command); run as a script it trains the tiny model below.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn as nn

from faceattr_nb import train
from faceattr_nb.models.losses import bce_per_attr

ROOT = Path(__file__).resolve().parent.parent
# float32 sums in another order (each process averages over 8 images, then the two are averaged) differ in the
# last bits, ~1e-7 relative per step; Adam divides by sqrt(v), which can scale such a difference up for weights
# with tiny gradients, over 12 steps. 1e-5 is 40x the largest difference measured here (2.5e-7) and
# far below one step's change of a weight (lr = 1e-2).
TOLERANCE = 1e-5


class Plain(nn.Module):
    """A small CNN without dropout or BatchNorm: nothing that differs per process by design (distributed.py)."""

    def __init__(self, num_attrs=40):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                 nn.Flatten(), nn.Linear(32, num_attrs))

    def forward(self, x):
        if self.training:
            self.train_batch = len(x)  # images per process and step
        return {"logits": self.net(x)}

    def losses(self, out, y):
        return {"total": bce_per_attr(out["logits"], y).mean()}


CFG = train.TrainConfig(epochs=3, batch_size=16, lr=1e-2, optimizer="adam", schedule="cosine", seed=3)


def _run(runs_dir: Path, stop_after: int | None = None) -> nn.Module:
    from tests.helpers import toy_cache

    def stop(epoch, row):
        if epoch == stop_after:
            raise KeyboardInterrupt

    torch.manual_seed(0)
    model = Plain()
    train.fit(model, toy_cache(64), toy_cache(32, seed=1), CFG, name="plain", runs_dir=runs_dir, progress=False,
              on_epoch_end=stop)
    return model


def test_two_processes_match_one_and_resume(tmp_path):
    one = _run(tmp_path / "one")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           __file__, str(tmp_path / "ddp")], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("resuming plain after epoch 1") == 1  # both resumed; rank 0 alone prints
    assert (tmp_path / "ddp/writes.log").read_text() == "0\n"  # one record, written by rank 0
    for rank in (0, 1):  # each process trained on its half of every batch of 16
        assert (tmp_path / f"ddp/batch{rank}.txt").read_text() == "8"
    ddp = torch.load(tmp_path / "ddp/plain/model.pt", weights_only=True)
    for k, v in one.state_dict().items():
        assert (ddp[k] - v).abs().max() < TOLERANCE, k
    record = json.loads((tmp_path / "ddp/plain/record.json").read_text())
    single = json.loads((tmp_path / "one/plain/record.json").read_text())
    for a, b in zip(record["history"], single["history"], strict=True):  # losses over the whole global batch
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-5 and abs(a["val_loss"] - b["val_loss"]) < 1e-5


if __name__ == "__main__":  # one process of the torchrun launch: a run cut after epoch 1, then resumed
    runs = Path(sys.argv[1])
    write_json = train._write_json

    def counted(obj, path):  # log which rank writes a record
        with open(runs / "writes.log", "a") as f:
            f.write(f"{os.environ['RANK']}\n")
        write_json(obj, path)

    train._write_json = counted
    try:
        _run(runs, stop_after=1)
    except KeyboardInterrupt:
        torch.distributed.barrier()  # rank 0 has written the checkpoint (a real restart starts after that)
        assert (runs / "plain/checkpoint.pt").exists() and not (runs / "plain/record.json").exists()
    model = _run(runs)  # every process loads the checkpoint
    (runs / f"batch{os.environ['RANK']}.txt").write_text(str(model.train_batch))
