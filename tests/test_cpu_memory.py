"""cpu_memory: large tensors stop costing a page fault per 4 KiB on every allocation, and the memory goes back."""
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


GIVE_BACK = """
import json, torch
from faceattr_nb.cpu_memory import give_back_freed_memory, keep_freed_memory, resident_bytes

def resident_mib():
    return resident_bytes() / 2**20

on = keep_freed_memory()
held = [torch.ones(16 * 2**20) for _ in range(8)]  # 512 MiB alive at once, like a training step's peak
del held
kept = resident_mib()
gave = give_back_freed_memory()
print(json.dumps({"on": on, "kept": kept, "gave": gave, "after": resident_mib()}))
"""


def probe(code: str = PROBE, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT), **env},
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


@glibc
def test_the_freed_peak_goes_back_to_the_kernel_when_asked():
    r = probe(GIVE_BACK)
    assert r["on"] is True and r["gave"] is True
    assert r["kept"] - r["after"] > 400  # MiB: the freed 512 MiB stayed resident until give_back_freed_memory


@glibc
def test_giving_back_does_nothing_when_it_is_off():
    r = probe(GIVE_BACK, FACEATTR_KEEP_FREED_MEMORY="0")
    assert r["on"] is False and r["gave"] is False


def test_fit_and_predict_turn_it_on_for_the_cpu(monkeypatch, tmp_path):
    import torch

    from faceattr_nb import models, train
    from tests.helpers import toy_cache
    calls, given_back = [], []
    monkeypatch.setattr(train, "keep_freed_memory", lambda: calls.append(1))
    monkeypatch.setattr(train, "give_back_freed_memory", lambda: given_back.append(1))
    torch.manual_seed(0)
    model = models.create("scratch_cnn")
    train.fit(model, toy_cache(32, 32), toy_cache(8, 32), train.TrainConfig(epochs=1, batch_size=16),
              runs_dir=tmp_path, device="cpu", progress=False)
    assert calls, "fit on the CPU did not keep freed memory"
    assert given_back == [1], "fit on the CPU did not give the freed memory back once, after its last epoch"
    calls.clear()
    train.predict(model, toy_cache(8, 32))
    assert calls, "predict on the CPU did not keep freed memory"
