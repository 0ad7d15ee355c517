"""Training and scoring steps on the CPU with and without ``cpu_memory.keep_freed_memory``.

    PYTHONPATH=$PWD python benchmarks/cpu_memory.py --results benchmarks/RESULTS.md

For each setting (off: ``FACEATTR_KEEP_FREED_MEMORY=0``; on: the default) a
fresh process builds notebook 03's transfer model on Lite0 (``--size`` px,
batch ``--batch``, ``--threads`` torch threads), times ``--steps`` training
steps on one random batch (forward, losses, backward, Adam step) and one
``train.predict`` over ``--batch`` x 4 images, and reads the process's CPU
time in user and kernel mode (``resource.getrusage``) for each. The first step
is reported apart (the heap grows then). After the steps it reads the process's
resident memory, calls ``cpu_memory.give_back_freed_memory()`` (what
``train.fit`` does after its last epoch) and reads it again. ``--results FILE``
writes the table to the section between the markers of FILE.
"""
import argparse
import json
import os
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

from notebook_times import machine  # beside this script: CPU model and core count

BEGIN, END = "<!-- cpu_memory:begin -->", "<!-- cpu_memory:end -->"


def measure(size: int, batch: int, steps: int, threads: int) -> dict:
    """Wall, user and kernel seconds of each training step and of one predict, in this process."""
    import resource
    import time

    import numpy as np
    import torch

    from faceattr_nb import cpu_memory, models, train
    from faceattr_nb.data.loaders import ImageCache

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = models.create("xception", backbone="tf_efficientnet_lite0", pretrained=True)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x, y = torch.randn(batch, 3, size, size), torch.rand(batch, 40).round()
    on = cpu_memory.keep_freed_memory()

    def timed(fn) -> dict:
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fn()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        return {"wall": time.perf_counter() - t0, "user": r1.ru_utime - r0.ru_utime,
                "kernel": r1.ru_stime - r0.ru_stime}

    def step():
        loss = model.losses(model(x), y)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    model.train()
    rows = [timed(step) for _ in range(steps)]
    held = cpu_memory.resident_bytes() / 2**30
    cpu_memory.give_back_freed_memory()
    resident = {"after_steps": held, "after_give_back": cpu_memory.resident_bytes() / 2**30}
    n = batch * 4
    cache = ImageCache(torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8),
                       torch.zeros(n, 40, dtype=torch.uint8), [str(i) for i in range(n)], np.full(n, -1))
    pred = timed(lambda: train.predict(model, cache, batch_size=batch))
    return {"keep_freed_memory": on, "first_step": rows[0], "later_steps": rows[1:], "predict": pred,
            "resident_gib": resident}


def render(results: dict, args, when: str) -> str:
    mean = lambda rows, k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
    lines = [BEGIN, "## CPU memory reuse: `benchmarks/cpu_memory.py`", "",
             f"`{' '.join(['python', 'benchmarks/cpu_memory.py'] + sys.argv[1:])}`; {machine()}, "
             f"{args.threads} torch threads, {when}. Notebook 03's model on Lite0, "
             f"{args.size} px, batch {args.batch}: seconds of wall time and of CPU time in user and kernel mode "
             f"(summed over threads), first training step apart, then the mean of the next {args.steps - 1}; "
             f"`train.predict` of {args.batch * 4} images. Off: `FACEATTR_KEEP_FREED_MEMORY=0`; "
             "on: `cpu_memory.keep_freed_memory()` (what `train.fit` and `train.predict` do on the CPU). "
             "Resident memory of the process after the training steps, and after "
             "`cpu_memory.give_back_freed_memory()` (what `train.fit` does after its last epoch; "
             "it does nothing when off).", "",
             "| freed memory kept | first step: wall / user / kernel | later steps: wall / user / kernel "
             "| predict: wall / user / kernel | resident GiB: after the steps / after giving back |",
             "|---|---|---|---|---|"]
    for name, r in results.items():
        cell = lambda d: f"{d['wall']:.2f} / {d['user']:.2f} / {d['kernel']:.2f}"  # noqa: E731
        later = {k: mean(r["later_steps"], k) for k in ("wall", "user", "kernel")}
        rss = r["resident_gib"]
        lines.append(f"| {name} | {cell(r['first_step'])} | {cell(later)} | {cell(r['predict'])} "
                     f"| {rss['after_steps']:.2f} / {rss['after_give_back']:.2f} |")
    return "\n".join(lines + [END])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=6, help="training steps (at least 2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--results", type=Path, help="RESULTS.md to write the table to")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.size, args.batch, args.steps, args.threads)))
        return
    results = {}
    for name, value in (("off", "0"), ("on", "1")):
        env = dict(os.environ, FACEATTR_KEEP_FREED_MEMORY=value)
        cmd = [sys.executable, __file__, "--child", "--size", str(args.size), "--batch", str(args.batch),
               "--steps", str(args.steps), "--threads", str(args.threads)]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
        print(name, json.dumps(results[name]), flush=True)
    section = render(results, args, datetime.now(timezone.utc).strftime("%Y-%m-%d"))
    print(section)
    if args.results:
        from results_md import replace_section  # beside this script
        replace_section(args.results, BEGIN, END, section)


if __name__ == "__main__":
    main()
