"""cpu_memory.keep_freed_memory: large tensors stop costing a page fault per 4 KiB on every allocation."""
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, resource, torch
from faceattr_nb.cpu_memory import keep_freed_memory

def faults():
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        torch.ones(16 * 2**20)  # 64 MiB, above glibc's largest mmap threshold (32 MiB)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

before = faults()
on = keep_freed_memory()
for _ in range(3):
    faults()  # the heap grows to its working size
print(json.dumps({"on": on, "before": before, "after": faults()}))
"""
glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's (Linux)")


def probe(**env) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@glibc
def test_large_tensors_reuse_mapped_pages_once_it_is_on():
    r = probe()
    assert r["on"] is True
    assert r["before"] > 5 * 16384 * 0.9  # every 64 MiB tensor faulted in each of its 16,384 pages
    assert r["after"] < r["before"] / 50  # the same allocations now reuse pages already mapped


@glibc
def test_the_environment_variable_turns_it_off():
    r = probe(FACEATTR_KEEP_FREED_MEMORY="0")
    assert r["on"] is False
    assert r["after"] > 5 * 16384 * 0.9


def test_fit_and_predict_turn_it_on_for_the_cpu(monkeypatch, tmp_path):
    import torch

    from faceattr_nb import models, train
    from tests.helpers import toy_cache
    calls = []
    monkeypatch.setattr(train, "keep_freed_memory", lambda: calls.append(1))
    torch.manual_seed(0)
    model = models.create("scratch_cnn")
    train.fit(model, toy_cache(32, 32), toy_cache(8, 32), train.TrainConfig(epochs=1, batch_size=16),
              runs_dir=tmp_path, device="cpu", progress=False)
    assert calls, "fit on the CPU did not keep freed memory"
    calls.clear()
    train.predict(model, toy_cache(8, 32))
    assert calls, "predict on the CPU did not keep freed memory"
