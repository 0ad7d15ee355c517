"""One training loop for every model of the course: ``fit(model, train, val, cfg)``.

The loop reads top to bottom (learning rate, forward, losses, backward,
clip, step, log, evaluate, checkpoint) and knows nothing about any one
model: models return ``{"logits": ...}`` and name their losses in
``model.losses(out, y)`` with a ``total`` (see models/registry.py), so GAL's
two gradient streams and BLAN's eq. 8 need no special case here.

On CUDA it trains in bf16 autocast with channels_last and keeps the decoded
image cache on the GPU; every epoch it writes a checkpoint atomically, so a
run that is interrupted resumes exactly where it stopped (same weights as an
uninterrupted run on the CPU). Each run ends with a JSON record under
``runs/<name>/record.json``. Under ``torchrun --nproc_per_node=N`` the same
call trains data-parallel on N GPUs (see distributed.py). Used in notebooks 02-07.
"""
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from faceattr_nb import distributed, metrics
from faceattr_nb.cpu_memory import give_back_freed_memory, keep_freed_memory
from faceattr_nb.data.loaders import ImageCache, batches

RECORD_VERSION = 1


SCHEDULES = ("constant", "poly", "step", "cyclic", "cosine")  # TrainConfig.schedule's values


@dataclass
class TrainConfig:
    epochs: int = 10              # passes over the training split
    batch_size: int = 64          # images per step
    lr: float = 1e-3              # peak learning rate
    optimizer: str = "adamw"      # "sgd" (with momentum), "adam" or "adamw"
    momentum: float = 0.9         # SGD momentum
    weight_decay: float = 1e-4    # L2 (SGD/Adam) or decoupled (AdamW) decay
    schedule: str = "constant"    # "constant", "poly", "step", "cyclic" or "cosine"
    power: float = 0.9            # poly: lr * (1 - t/T) ** power
    step_size: int = 1000         # step: steps between decays; cyclic: steps per half cycle
    gamma: float = 0.1            # step: decay factor
    min_lr: float = 0.0           # cosine and cyclic: the lowest learning rate
    warmup_steps: int = 0         # linear warm-up before any schedule
    clip: float | None = None     # max gradient norm (None: no clipping)
    layer_decay: float | None = None  # discriminative lrs: a timm backbone's stage k below the top at lr * decay**k
    patience: int | None = None   # early stopping: epochs without improvement (None: off)
    min_delta: float = 0.0        # early stopping: the smallest change that counts
    monitor: str = "val_loss"     # "val_loss" (lower is better) or "val_accuracy"
    amp: bool | None = None       # bf16 autocast; None: on for CUDA, off on the CPU
    flip: bool = True             # random horizontal flip of training images
    shift: int = 0                # random translation of training images by up to this many pixels (0: off)
    seed: int = 0                 # weights init is the caller's; this seeds order, flips, dropout
    max_steps_per_epoch: int | None = None  # cap steps per epoch (smoke runs)

    def __post_init__(self):
        checks = {"optimizer": ("sgd", "adam", "adamw"), "monitor": ("val_loss", "val_accuracy"),
                  "schedule": SCHEDULES}
        for name, valid in checks.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r}; valid values: {', '.join(valid)}")
        if self.layer_decay is not None and not 0.0 < self.layer_decay <= 1.0:
            raise ValueError(f"TrainConfig.layer_decay={self.layer_decay!r}; use a value in (0, 1] (1: one lr "
                             "for every layer, as with None)")


# Fields added after checkpoints were first written: left out of a run's signature while at these values,
# so a checkpoint written before a field existed still resumes (fit).
_LATER_FIELDS = {"layer_decay": None}


def _config_signature(cfg: TrainConfig) -> dict:
    return {k: v for k, v in asdict(cfg).items() if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}


@dataclass
class Run:
    """What ``fit`` returns: the record's parts as tables, and where it was saved."""
    name: str
    history: pd.DataFrame
    metrics: dict[str, pd.DataFrame]
    summary: dict[str, dict]
    record: dict
    path: Path


# ---------------------------------------------------------------- helpers

def lr_factor(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Multiplier of cfg.lr at optimizer step ``step`` of ``total_steps``."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    t = min(step - cfg.warmup_steps, max(total_steps - cfg.warmup_steps, 1))
    T = max(total_steps - cfg.warmup_steps, 1)
    floor = cfg.min_lr / cfg.lr if cfg.lr else 0.0
    if cfg.schedule == "poly":
        return (1 - t / T) ** cfg.power
    if cfg.schedule == "step":
        return cfg.gamma ** (t // cfg.step_size)
    if cfg.schedule == "cyclic":  # triangular (Smith 2017), no decay
        pos = t / cfg.step_size % 2
        return floor + (1 - floor) * (pos if pos <= 1 else 2 - pos)
    if cfg.schedule == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t / T))
    return 1.0


def layer_decay_groups(model: nn.Module, lr: float, decay: float) -> list[dict]:
    """Discriminative learning rates (Howard and Ruder, ULMFiT, ACL 2018): parameter groups in which the
    stages of the model's timm backbone (``model.backbone``) learn at ``lr * decay**k``, k counted from the
    top stage (k = 1) down to the stem, and everything outside the backbone (the head) at ``lr``.
    The stages are timm's own coarse groups (``group_matcher(coarse=True)``: stem, then each stage)."""
    from timm.models import group_parameters

    backbone = getattr(model, "backbone", None)
    if not hasattr(backbone, "group_matcher"):
        raise ValueError(f"layer_decay needs a model whose .backbone is a timm model with stages "
                         f"(group_matcher); {type(model).__name__} has none: set TrainConfig.layer_decay=None")
    stage = group_parameters(backbone, backbone.group_matcher(coarse=True), reverse=True)  # name -> 0 (stem)..top
    top = max(stage.values())
    scales: dict[float, list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        inner = name.removeprefix("backbone.")
        k = top - stage[inner] + 1 if name.startswith("backbone.") and inner in stage else 0
        scales.setdefault(decay ** k, []).append(p)
    return [{"params": ps, "lr": lr * s} for s, ps in sorted(scales.items(), reverse=True)]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer over trainable parameters (or the model's own ``param_groups``, or, with
    ``cfg.layer_decay``, ``layer_decay_groups``)."""
    if cfg.layer_decay is not None and hasattr(model, "param_groups"):
        raise ValueError(f"{type(model).__name__} sets its own param_groups; layer_decay would replace them: "
                         "set TrainConfig.layer_decay=None")
    if hasattr(model, "param_groups"):
        groups = model.param_groups(cfg.lr, cfg.weight_decay)
    elif cfg.layer_decay is not None:
        groups = layer_decay_groups(model, cfg.lr, cfg.layer_decay)
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    groups = [g for g in groups if any(p.requires_grad for p in g["params"])]
    if not groups:
        raise ValueError("the model has no trainable parameter: did you freeze everything?")
    for g in groups:
        g.setdefault("lr", cfg.lr)
        g["base_lr"] = g["lr"]
    # fused: one kernel updates every weight (3-10x faster steps than the default on the CPU, benchmarks/RESULTS.md)
    fused = all(p.device.type in ("cpu", "cuda") for g in groups for p in g["params"])
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, fused=fused)
    opt = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return opt(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    return (sum(p.numel() for p in model.parameters()),
            sum(p.numel() for p in model.parameters() if p.requires_grad))


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int | None:
    """Forward FLOPs for one input of ``input_shape`` (C, H, W), by torch's flop counter.

    One multiply-add counts as 2 FLOPs (the counter's convention)."""
    from torch.utils.flop_counter import FlopCounterMode
    p = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=p.device, dtype=p.dtype))
        return int(counter.get_total_flops())
    except Exception:  # a model the counter cannot trace: report no number rather than a wrong one
        return None
    finally:
        model.train(was_training)


@torch.no_grad()
def measure_ms_per_image(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 32,
                         repeats: int = 5, device: str | None = None) -> float:
    """Median inference time per image in milliseconds (batch of ``batch_size``, after a warm-up)."""
    device = torch.device(device or next(model.parameters()).device)
    model.eval()
    x = torch.randn(batch_size, *input_shape, device=device)
    times = []
    for i in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with _autocast(device, device.type == "cuda"):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first call is the warm-up
            times.append(time.perf_counter() - t0)
    return float(np.median(times) / batch_size * 1000)


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def predict(model: nn.Module, cache: ImageCache, batch_size: int = 256,
            device: str | None = None, amp: bool | None = None, key: str = "logits") -> np.ndarray:
    """Probabilities (N, A) of ``model`` on every image of ``cache``, in order; ``key``:
    another output of logits to read (e.g. BLAN's "level_logits", (N, K, A))."""
    device = torch.device(device or next(model.parameters()).device)
    amp = device.type == "cuda" if amp is None else amp
    if device.type == "cpu":
        keep_freed_memory()  # no page fault per 4 KiB of each large tensor (cpu_memory.py)
    model.eval()
    out = []
    for x, _ in batches(cache, batch_size, device=device):
        with _autocast(device, amp):
            out.append(torch.sigmoid(model(_layout(x, device))[key].float()).cpu())
    return torch.cat(out).numpy()


@torch.no_grad()
def evaluate_loss(model: nn.Module, cache: ImageCache, batch_size: int, device: torch.device,
                  amp: bool) -> tuple[dict[str, float], np.ndarray]:
    """Mean of each named loss over ``cache`` and the probabilities (N, A)."""
    model.eval()
    sums: dict[str, float] = {}
    probs = []
    for x, y in batches(cache, batch_size, device=device):
        with _autocast(device, amp):
            out = model(_layout(x, device))
            losses = model.losses(out, y)
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(x)
        probs.append(torch.sigmoid(out["logits"].float()).cpu())
    return {k: v / len(cache) for k, v in sums.items()}, torch.cat(probs).numpy()


def _layout(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


def _save_atomic(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a kill leaves the old file or the new one, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_json(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _check_before_training(train: ImageCache, val: ImageCache, test: ImageCache | None, run_dir: Path) -> None:
    """Fail before the first epoch, not after it: splits too small to train or score, an unwritable run folder."""
    if len(train) < 2:
        raise ValueError(f"the training split has {len(train)} image(s); need at least 2")
    for split, cache in (("validation", val), ("test", test)):
        if cache is not None and len(cache) == 0:
            raise ValueError(f"the {split} split is empty (0 images): check the data's partition column "
                             "(list_eval_partition) and the profile's max_eval, or pass test=None")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write_test_{os.getpid()}"  # one per process: ranks of one run may probe at once
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"cannot write to the run folder {run_dir} ({err}): make it writable, "
                              "or pass another runs_dir= or name=") from err


def _check_finite(name: str, when: str, losses: dict[str, float], probs: np.ndarray, cfg: TrainConfig,
                  ckpt_path: Path) -> None:
    """FloatingPointError when a validation loss or score is NaN or infinite: such a run is never saved."""
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad or not np.isfinite(probs).all():
        what = f"the validation loss became {bad}" if bad else "the scores became NaN or infinite"
        raise FloatingPointError(
            f"{name}: {what} at {when}. Lower lr (now {cfg.lr}), set clip=1.0, or check the inputs; no record "
            f"is written; the last good checkpoint is {ckpt_path if ckpt_path.exists() else 'none'}")


def _jsonable(v):
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if isinstance(v, (Path, torch.device)):
        return str(v)
    raise TypeError(f"cannot write {type(v)} to a run record")


def _improved(value: float, best: float | None, cfg: TrainConfig) -> bool:
    if best is None:
        return True
    if cfg.monitor == "val_loss":
        return value < best - cfg.min_delta
    return value > best + cfg.min_delta


def kept_epoch(history: pd.DataFrame, monitor: str = "val_loss", min_delta: float = 0.0) -> int | None:
    """The epoch whose weights ``fit`` keeps: the last one that improved ``monitor`` by more than
    ``min_delta`` over the best before it (as in the loop); None for an empty history."""
    cfg, best, kept = TrainConfig(monitor=monitor, min_delta=min_delta), None, None
    for epoch, value in zip(history["epoch"], history[monitor]):
        if _improved(value, best, cfg):
            best, kept = value, int(epoch)
    return kept


# ---------------------------------------------------------------- the loop

def fit(model: nn.Module, train: ImageCache, val: ImageCache, cfg: TrainConfig, *,
        test: ImageCache | None = None, name: str | None = None, setup=None,
        runs_dir: str | Path | None = None, device: str | None = None, resume: bool = True,
        progress: bool = True, on_epoch_end: Callable[[int, dict], None] | None = None) -> Run:
    """Train ``model`` on ``train``, early-stop on ``val``, evaluate on val (and test); save a record.

    ``setup`` is a ``config.Setup`` (profile, data source, runs folder, device).
    A checkpoint in ``runs/<name>/`` from the same config is resumed when
    ``resume`` is true. ``on_epoch_end(epoch, row)`` is called after each
    epoch's checkpoint (raise inside it to stop a run as if interrupted).
    Before the first epoch the splits must be non-empty and the run folder
    writable; a non-finite validation loss or score stops the run with a
    FloatingPointError, keeping the last good checkpoint and writing no result.
    """
    name = name or getattr(model, "create_name", type(model).__name__.lower())
    runs_dir = Path(runs_dir or (setup.runs_dir if setup else "runs"))
    run_dir = runs_dir / name
    device = torch.device(device or (setup.device if setup else None)
                          or ("cuda" if torch.cuda.is_available() else "cpu"))
    device = distributed.init(device)  # under torchrun: join the process group, one GPU per process
    distributed.check_batch(cfg.batch_size)
    amp = device.type == "cuda" if cfg.amp is None else cfg.amp
    _check_before_training(train, val, test, run_dir)
    if device.type == "cpu":
        keep_freed_memory()  # Lite0 steps at 192 px 1.9-5x faster on the CPU, as measured (cpu_memory.py)

    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        train, val = _to_device(train, device), _to_device(val, device)
    net = distributed.wrap(model, device)  # DistributedDataParallel when distributed, else the model itself
    optimizer = make_optimizer(model, cfg)
    steps_per_epoch = max(len(train) // cfg.batch_size, 1)
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    total_steps = cfg.epochs * steps_per_epoch

    # Resume: a checkpoint of this run with the same config continues exactly where it stopped.
    state = {"epoch": 0, "step": 0, "history": [], "best": None, "best_state": None, "bad_epochs": 0}
    ckpt_path = run_dir / "checkpoint.pt"
    signature = json.dumps({"config": _config_signature(cfg),
                            "model": getattr(model, "create_name", type(model).__name__),
                            "kwargs": getattr(model, "create_kwargs", {}), "n_train": len(train),
                            "shape": list(train.x.shape[1:]), "source": train.source,
                            # the weights' names and shapes: a checkpoint of an older version of the model starts afresh
                            "weights": [[k, list(v.shape)] for k, v in model.state_dict().items()],
                            # soft targets (distill.py): another teacher is another run; none: the key is absent
                            **({"targets": round(float(train.targets.double().sum()), 3)}
                               if train.targets is not None else {})}, default=str)
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ckpt.get("signature") == signature:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            distributed.set_rng_state(ckpt["rng"])
            state = ckpt["state"]
            distributed.print0(f"resuming {name} after epoch {state['epoch']} of {cfg.epochs} from {ckpt_path} "
                               "(pass resume=False to train from scratch)")
        else:
            distributed.print0(f"starting {name} afresh: {ckpt_path} was written for another model, data "
                               "or config")
    else:
        torch.manual_seed(cfg.seed + distributed.rank())  # dropout and other in-model randomness

    progress = progress and distributed.is_main()
    # two bars per run (epochs, and the steps of the current epoch), not one per epoch: a saved notebook
    # keeps every bar's first text ("0%"), which reads as a run that never started
    epochs = tqdm(desc=name, disable=not progress, initial=state["epoch"], total=cfg.epochs)
    steps = tqdm(total=steps_per_epoch, leave=False, disable=not progress)
    val_y = val.y.cpu().numpy()  # (N, A) uint8, for the epoch's validation accuracy
    started, first_epoch = time.perf_counter(), state["epoch"]
    try:  # a bar closed below its total is drawn red: right after an error, not after an early stop
        for epoch in range(state["epoch"], cfg.epochs):
            if state["bad_epochs"] >= (cfg.patience or math.inf):
                distributed.print0(f"early stop after epoch {epoch}: no {cfg.monitor} gain over {cfg.min_delta} "
                                   f"for {cfg.patience} epochs")
                _end_bar_early(epochs, f"{name}, early stop")
                break
            model.train()
            t0, sums, n_seen = time.perf_counter(), {}, 0
            steps.reset(total=steps_per_epoch)
            steps.set_description(f"epoch {epoch + 1}")
            for i, (x, y) in enumerate(batches(train, cfg.batch_size, shuffle=True, flip=cfg.flip, shift=cfg.shift,
                                               seed=cfg.seed * 100_003 + epoch, device=device, drop_last=True,
                                               part=distributed.part())):
                if i >= steps_per_epoch:
                    break
                # learning rate for this step
                factor = lr_factor(cfg, state["step"], total_steps)
                for g in optimizer.param_groups:
                    g["lr"] = g["base_lr"] * factor
                # forward and named losses
                with _autocast(device, amp):
                    out = net(_layout(x, device))
                    losses = model.losses(out, y)
                loss = losses["total"]
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"{name}: the loss became {float(loss.detach())} at epoch {epoch + 1}, step {i + 1} "
                        f"({ {k: float(v.detach()) for k, v in losses.items()} }). Lower lr (now {cfg.lr}), "
                        f"set clip=1.0, or check the inputs; the last good checkpoint is "
                        f"{ckpt_path if ckpt_path.exists() else 'none'}")
                # backward, clip, step
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                optimizer.step()
                state["step"] += 1
                # log
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(x)
                n_seen += len(x)
                steps.update()
                steps.set_postfix(loss=f"{sums['total'] / n_seen:.4f}", refresh=False)
            # evaluate on the validation split (every process, with rank 0's BatchNorm statistics)
            sums, n_seen = distributed.all_sum(sums, n_seen)
            distributed.sync_buffers(model)
            val_losses, val_probs = evaluate_loss(model, val, cfg.batch_size * 2, device, amp)
            _check_finite(name, f"epoch {epoch + 1}", val_losses, val_probs, cfg, ckpt_path)
            val_acc = metrics.mean_accuracy(val_y, val_probs)
            seconds = time.perf_counter() - t0
            row = {"epoch": epoch + 1, **{f"train_{k}": v / max(n_seen, 1) for k, v in sums.items()},
                   "train_loss": sums.get("total", math.nan) / max(n_seen, 1),
                   **{f"val_{k}": v for k, v in val_losses.items()},
                   "val_loss": val_losses["total"], "val_accuracy": val_acc,
                   "lr": optimizer.param_groups[0]["lr"], "seconds": seconds, "images_per_s": n_seen / seconds}
            state["history"].append(row)
            epochs.set_postfix(train=f"{row['train_loss']:.4f}", val=f"{row['val_loss']:.4f}", acc=f"{val_acc:.4f}",
                               refresh=False)
            # early stopping bookkeeping: keep the best weights
            value = distributed.from_main(row[cfg.monitor])
            if _improved(value, state["best"], cfg):
                state["best"], state["bad_epochs"] = value, 0
                state["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                state["bad_epochs"] += 1
            # checkpoint, written atomically
            state["epoch"] = epoch + 1
            ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "signature": signature,
                    "rng": distributed.rng_state(), "state": state}
            if distributed.is_main():
                _save_atomic(ckpt, ckpt_path)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, row)
            epochs.update()
    finally:
        steps.close()
        epochs.close()
    if progress and state["epoch"] > first_epoch:  # one line that a saved or exported notebook keeps
        history = pd.DataFrame(state["history"])
        kept = kept_epoch(history, cfg.monitor, cfg.min_delta)
        distributed.print0(f"{name}: trained epochs {first_epoch + 1}-{state['epoch']} of {cfg.epochs} in "
                           f"{time.perf_counter() - started:.0f} s; keeps epoch {kept} "
                           f"({cfg.monitor} {history.set_index('epoch').loc[kept, cfg.monitor]:.4f})")
    if device.type == "cpu":
        give_back_freed_memory()  # scoring, and the next model, need not live beside the training peak
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    run = None
    if distributed.is_main():  # rank 0 evaluates and writes the record; the other processes get its Run
        run = _finish(model, name, run_dir, cfg, state["history"], train, val, test, setup, device, amp)
    return distributed.from_main(run)


def _end_bar_early(bar, desc: str) -> None:
    """Mark a bar that stops short by design as complete: tqdm draws one closed below its total red, as it
    would a crash. The notebook bar's widget keeps its own maximum."""
    if bar.disable:
        return
    bar.total = bar.n
    widget = getattr(bar, "container", None)  # tqdm.notebook: (text, progress, text)
    if widget is not None:
        widget.children[1].max = bar.n
    bar.set_description(desc, refresh=False)


def _to_device(cache: ImageCache, device: torch.device) -> ImageCache:
    """Move a cache to the GPU when it takes under half of the free memory."""
    free, _ = torch.cuda.mem_get_info(device)
    return cache.to(device) if cache.x.numel() < free / 2 else cache


def _finish(model, name, run_dir, cfg, history, train, val, test, setup, device, amp) -> Run:
    """Evaluate the best weights, save them and the run record."""
    train_y = train.y.cpu().numpy()
    tables, summaries = {}, {}
    for split, cache in (("val", val), ("test", test)):
        if cache is None:
            continue
        probs = predict(model, cache, cfg.batch_size * 2, device, amp)
        _check_finite(name, f"the final {split} scoring", {}, probs, cfg, run_dir / "checkpoint.pt")
        tables[split], summaries[split] = metrics.evaluate(cache.y.cpu().numpy(), probs, cache.attrs,
                                                           train_y=train_y)
    # an older record goes first: a kill below leaves no record rather than one beside other weights
    (run_dir / "record.json").unlink(missing_ok=True)
    _save_atomic(model.state_dict(), run_dir / "model.pt")
    shape = tuple(train.x.shape[1:])
    params, trainable = count_params(model)
    record = {
        "name": name, "model": getattr(model, "create_name", type(model).__name__),
        "model_kwargs": getattr(model, "create_kwargs", {}), "config": asdict(cfg),
        "setup": setup.as_dict() if setup else {"source": train.source, "device": str(device)},
        "data": train.source, "attrs": list(train.attrs), "img_size": shape[-1], "channels": shape[0],
        "n_train": len(train), "n_val": len(val), "n_test": len(test) if test is not None else 0,
        "params": params, "trainable_params": trainable, "flops": count_flops(model, shape),
        "ms_per_image": measure_ms_per_image(model, shape, device=device), "device": str(device),
        "history": history,
        "metrics": {k: v.to_dict(orient="index") for k, v in tables.items()},
        "summary": summaries, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": RECORD_VERSION,
    }
    path = run_dir / "record.json"
    _write_json(record, path)
    return Run(name, pd.DataFrame(history), tables, summaries, record, path)


def load_model(run_dir: str | Path, device: str = "cpu") -> nn.Module:
    """Rebuild a model from its run folder (record.json + model.pt).

    A missing or unreadable file (a kill while it was written) raises an error
    that names it and says how to get it back."""
    from faceattr_nb import models, runs
    from faceattr_nb.models import backbones
    run_dir = Path(run_dir)
    record_path, weights = run_dir / "record.json", run_dir / "model.pt"
    for p in (record_path, weights):
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing: is {run_dir} a finished run of train.fit?")
    record = runs.load_run(record_path)
    kwargs = dict(record["model_kwargs"])
    kwargs.pop("weights", None)  # the trained weights replace any pretrained file
    kwargs.pop("pretrained", None)
    with backbones.trained_weights_follow():  # no RANDOM-weights warning: the run's weights replace them at once
        model = models.create(record["model"], **kwargs)
    try:
        state = torch.load(weights, map_location=device, weights_only=True)
    except Exception as err:  # EOFError, zip or unpickling errors of a cut-short file
        raise runs.RunRecordError(f"{weights} is not a readable state dict ({type(err).__name__}: {err}); it was "
                                  f"probably cut short while written: re-run the training of {run_dir.name} "
                                  "(its checkpoint.pt resumes it) or delete the folder") from err
    model.load_state_dict(state)
    return model.to(device).eval()
