"""Training images/s against its bound, and how fast the decoded cache is built.

Run from the repository root (generated faces, no CelebA needed):

    python benchmarks/throughput.py --device cuda --results benchmarks/RESULTS.md     # a GPU box
    python benchmarks/throughput.py --small --results benchmarks/RESULTS.md           # a CPU, minutes

For every model of ``gpu_run.THROUGHPUT`` (its gpu-profile input size and
batch; ``--small``: the cpu profile's 64 px, FaceNet 36, batch 32) it
measures training images/s three ways, with the same model, optimiser
(AdamW) and, on CUDA, bf16 autocast and channels_last:

  a. the course's path: ``train.fit`` over the decoded uint8 cache (sampling,
     flip and normalisation on the device), the second of two epochs of
     ``--steps`` steps (its validation pass, 8 images, included);
  b. the model alone on tensors already on the device (forward, losses,
     backward, step): the bound for a;
  c. a per-sample pipeline, the way most code loads CelebA: ``FaceDataset`` +
     ``train_transform`` (PIL decode, crop, resize, flip, normalise per image)
     in a ``DataLoader`` with ``--workers`` worker processes;

and prints a/b and a/c. Then the cache build: ``loaders.decode_all`` of
``--images`` generated CelebA-size (178x218) JPEGs at ``--cache-size`` px
with ``--threads`` threads, each in a fresh process, giving images/s and the
peak resident memory beyond the cache itself (VmHWM), and an estimate
for 202,599 images on 16 threads (linear in threads: an upper bound).
``--results FILE`` writes the figures to the section "Throughput against its
bound (DEVICE)" of FILE, replacing that section if it is there.
"""
import argparse
import multiprocessing
import os
import platform
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import torch
from gpu_run import THROUGHPUT  # beside this script
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from faceattr_nb import models, train
from faceattr_nb.data import celeba, loaders, synthetic

CELEBA_IMAGES = 202_599


def faces(root: Path, n: int):
    """(table, image folder) of ``n`` generated CelebA-size faces under ``root`` (made once)."""
    synthetic.generate(root, n, seed=0, progress=False)
    return celeba.read_celeba(root), celeba.image_dir(root)


def create(name: str, size: int):
    kw = dict(THROUGHPUT[name][0])
    if "img_size" in kw:
        kw["img_size"] = size
    torch.manual_seed(0)
    return models.create(name.replace("40", ""), **kw)


def config(batch: int, steps: int) -> train.TrainConfig:
    return train.TrainConfig(epochs=2, batch_size=batch, lr=1e-3, optimizer="adamw", max_steps_per_epoch=steps)


def timed(step, steps: int, batch: int, device: torch.device, warmup: int = 2) -> float:
    """Images/s of ``steps`` calls of ``step()`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def train_step(model, optimizer, device: torch.device):
    """One step on a batch already on ``device``, as train.fit takes it."""
    amp = device.type == "cuda"

    def step(x, y):
        with train._autocast(device, amp):
            loss = model.losses(model(train._layout(x, device)), y)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def course_path(name, cache, batch, steps, device, runs_dir) -> float:
    """a: train.fit over the decoded cache; images/s of its second epoch."""
    run = train.fit(create(name, cache.img_size), cache, cache.subset(range(8)), config(batch, steps),
                    name=f"throughput_{name}", runs_dir=runs_dir, device=str(device), progress=False, resume=False)
    return float(run.history["images_per_s"].iloc[-1])


def model_alone(name, cache, batch, steps, device) -> float:
    """b: forward, losses, backward and step on one batch that is already on the device."""
    model = create(name, cache.img_size).to(device).train()
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, *cache.x.shape[1:], device=device)
    y = (torch.rand(batch, len(cache.attrs), device=device) < 0.3).float()
    step = train_step(model, train.make_optimizer(model, config(batch, steps)), device)
    return timed(lambda: step(x, y), steps, batch, device)


def optimizer_ms(name, size, device, fused: bool, steps: int = 5) -> float:
    """Median milliseconds of one AdamW step over all the model's weights (random gradients)."""
    params = list(create(name, size).to(device).parameters())
    for q in params:
        q.grad = torch.randn_like(q) * 1e-3
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4, fused=fused)
    times = []
    for _ in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sorted(times[1:])[steps // 2] * 1000


def peer_transform(size: int, gray: bool) -> v2.Compose:
    """loaders.train_transform, with a gray channel for FaceNet."""
    if not gray:
        return loaders.train_transform(size)
    return v2.Compose([v2.Grayscale(), *loaders.train_transform(size).transforms[:-1],
                       v2.Normalize(loaders.GRAY_MEAN, loaders.GRAY_STD)])


def per_sample(name, table, image_dir, size, gray, batch, steps, workers, device) -> float:
    """c: FaceDataset + train_transform in a DataLoader with worker processes."""
    model = create(name, size).to(device).train()
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    data = DataLoader(loaders.FaceDataset(table, image_dir, peer_transform(size, gray)), batch, shuffle=True,
                      num_workers=workers, pin_memory=device.type == "cuda", drop_last=True,
                      persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    it = iter(data)
    step = train_step(model, train.make_optimizer(model, config(batch, steps)), device)

    def load_and_step():
        x, y = next(it)
        step(x.to(device, non_blocking=True), y.to(device, non_blocking=True))
    return timed(load_and_step, steps, batch, device)


def _memory(field: str) -> int:
    """VmRSS (resident now) or VmHWM (the peak of this program) of this process, in bytes."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field))
    return int(line.split()[1]) * 1024


def cache_build(paths: list[Path], size: int, threads: int) -> dict:
    """Decode ``paths`` into a uint8 cache (in a fresh process: VmHWM is a high-water mark)."""
    before = _memory("VmRSS")
    t0 = time.perf_counter()
    x = loaders.decode_all(paths, size, workers=threads)
    seconds = time.perf_counter() - t0
    peak = _memory("VmHWM")
    return {"images": len(paths), "threads": threads, "img_size": size, "images_per_s": len(paths) / seconds,
            "cache_mb": x.nbytes / 1e6, "beyond_cache_mb": (peak - before - x.nbytes) / 1e6}


def in_fresh_process(fn, *args):
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"one {torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"CPU only: {os.cpu_count()} cores of an {cpu}, torch threads: {torch.get_num_threads()} "
            f"(torch {torch.__version__}), load average {os.getloadavg()[1]:.1f} at the end (other processes)")


def _num(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def section(args, rows: list[dict], builds: list[dict], device: torch.device) -> str:
    lines = [f"`python benchmarks/throughput.py {' '.join(sys.argv[1:])}` on {machine(device)}, "
             f"{datetime.now(timezone.utc):%Y-%m-%d}. Generated faces; a: `train.fit` over the decoded cache, "
             "b: the model alone on a batch already on the device, c: `FaceDataset` + `train_transform` in a "
             f"`DataLoader` with {args.workers} workers; images/s over {args.steps} steps after a warm-up.", "",
             "The last two columns: one AdamW step over all the weights, torch's default implementation against "
             "`fused=True` (which `train.make_optimizer` uses), median of 5.", "",
             "| model | input | batch | a: course | b: model alone | c: per-sample DataLoader | a/b | a/c "
             "| AdamW step ms, default | fused |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['img_size']}{' gray' if r['gray'] else ''} | {r['batch']} | {_num(r['a'])} "
              f"| {_num(r['b'])} | {_num(r['c'])} | {r['a'] / r['b']:.2f} | {r['a'] / r['c']:.2f} "
              f"| {r['opt_default']:.1f} | {r['opt_fused']:.1f} |" for r in rows]
    if builds:
        lines += ["", f"Cache build: `loaders.decode_all` of generated 178x218 JPEGs into a uint8 cache at "
                  f"{builds[0]['img_size']} px, each in a fresh process; peak resident memory beyond the cache "
                  "(VmHWM minus the resident memory before decoding minus the cache).", "",
                  "| images | threads | images/s | cache MB | peak MB beyond the cache |", "|---|---|---|---|---|"]
        lines += [f"| {b['images']:,} | {b['threads']} | {b['images_per_s']:,.0f} | {b['cache_mb']:,.0f} | "
                  f"{b['beyond_cache_mb']:,.0f} |" for b in builds]
        best = max(builds, key=lambda b: b["images_per_s"])
        rate16 = best["images_per_s"] * 16 / best["threads"]
        lines += ["", f"Estimate, not measured: at {best['images_per_s']:,.0f} images/s on {best['threads']} "
                  f"thread{'s' if best['threads'] > 1 else ''}, 16 threads would decode {CELEBA_IMAGES:,} images in "
                  f"about {CELEBA_IMAGES / rate16 / 60:.1f} min if decoding scaled linearly with threads (an "
                  "upper bound on the speed-up)."]
    return "\n".join(lines) + "\n"


def write_section(path: Path, title: str, body: str) -> None:
    """Replace the section ``## title`` of ``path`` (up to the next ``## ``), or append it."""
    text = path.read_text() if path.exists() else "# Measured results\n"
    block = f"## {title}\n\n{body}"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: block + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--small", action="store_true", help="cpu-profile sizes: 64 px (FaceNet 36), batch 32")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--images", type=int, default=6000, help="generated faces (>= (steps + 2) * batch)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count()), help="DataLoader workers for c")
    p.add_argument("--threads", type=int, nargs="+", default=[min(16, os.cpu_count())],
                   help="decoding threads for the cache build")
    p.add_argument("--cache-size", type=int, default=224, help="side of the cache build's images")
    p.add_argument("--models", nargs="+", default=list(THROUGHPUT), choices=list(THROUGHPUT))
    p.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "faceattr_throughput_faces")
    p.add_argument("--results", type=Path, help="a RESULTS.md to write the section to")
    args = p.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars of the cache builds (fresh processes)
    device = torch.device(args.device)
    table, image_dir = faces(args.root / str(args.images), args.images)
    rows = []
    with tempfile.TemporaryDirectory() as runs_dir:
        for name in args.models:
            _, size, batch, gray = THROUGHPUT[name]
            if args.small:
                size, batch = (36 if gray else 64), 32
            cache = loaders.build_cache(table, image_dir, size, gray=gray, workers=max(args.threads))
            r = {"model": name, "img_size": size, "batch": batch, "gray": gray,
                 "a": course_path(name, cache, batch, args.steps, device, runs_dir),
                 "b": model_alone(name, cache, batch, args.steps, device),
                 "c": per_sample(name, table, image_dir, size, gray, batch, args.steps, args.workers, device),
                 "opt_default": optimizer_ms(name, size, device, fused=False),
                 "opt_fused": optimizer_ms(name, size, device, fused=True)}
            rows.append(r)
            print(f"{name}: a {r['a']:.1f}, b {r['b']:.1f}, c {r['c']:.1f} images/s; "
                  f"a/b {r['a'] / r['b']:.2f}, a/c {r['a'] / r['c']:.2f}; AdamW step {r['opt_default']:.1f} ms, "
                  f"fused {r['opt_fused']:.1f} ms", flush=True)
            del cache
    paths = [image_dir / i for i in table["image_id"]]
    builds = []
    for threads in args.threads:
        for n in (len(paths) // 2, len(paths)):
            builds.append(in_fresh_process(cache_build, paths[:n], args.cache_size, threads))
            print("cache build", builds[-1], flush=True)
    text = section(args, rows, builds, device)
    print(text)
    if args.results:
        write_section(args.results, f"Throughput against its bound ({device.type})", text)


if __name__ == "__main__":
    main()
