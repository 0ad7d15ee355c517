"""Knowledge distillation: one network trained on what an ensemble of networks predicts.

G. Hinton, O. Vinyals and J. Dean, "Distilling the Knowledge in a Neural
Network", NIPS 2014 Deep Learning Workshop (arXiv:1503.02531). An ensemble
(the mean of several runs' probabilities) scores higher than each of its
members but costs their sum at inference. Section 2: train a single "student"
on the ensemble's probabilities of the training images ("soft targets")
instead of, or beside, the labels:

    target = w * p_teacher + (1 - w) * y        (w = ``weight``)

and minimise the usual binary cross entropy against it, one sigmoid per
attribute. A soft target says how sure the ensemble is (0.9 "Smiling" is not
0.55), which a 0/1 label does not; for noisy labels such as CelebA's it also
disagrees with some of them. The paper's temperature softens a softmax over
many classes; a sigmoid per attribute has two classes, and its probabilities
are used as they are (temperature 1).

``teacher_probs`` averages the runs (and each face with its mirror image, the
flip the runs trained with, so a flipped training image has the same target);
``with_soft_targets`` gives the training split those targets, which ``batches``
then yields instead of the labels. Validation and test keep their labels. The
teachers must never have seen a test face: train them on the same training
split and choose them on validation.
"""
import numpy as np
import torch
import torch.nn as nn

from faceattr_nb import metrics, train
from faceattr_nb.data.loaders import ImageCache


def teacher_probs(teachers: list[nn.Module], cache: ImageCache, flip: bool = True,
                  batch_size: int = 64) -> np.ndarray:
    """(N, A) mean of the ``teachers``' probabilities on every image of ``cache``; ``flip``: each image's
    probabilities are the mean over it and its mirror image."""
    if not teachers:
        raise ValueError("no teacher: give at least one trained model (train.load_model(run_dir))")
    mirror = cache.mirrored() if flip else None
    total = np.zeros(tuple(cache.y.shape), dtype=np.float64)
    for model in teachers:
        p = train.predict(model, cache, batch_size)
        if mirror is not None:
            p = (p + train.predict(model, mirror, batch_size)) / 2
        total += p
    return (total / len(teachers)).astype(np.float32)


def with_soft_targets(cache: ImageCache, probs: np.ndarray, weight: float = 1.0) -> ImageCache:
    """``cache`` whose training targets are ``weight * probs + (1 - weight) * labels`` (section 2 of the
    paper); weight 1: the teacher's probabilities only, 0: the labels again."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight={weight}: use a value in [0, 1] (1: the teacher only, 0: the labels only)")
    probs = torch.as_tensor(np.asarray(probs), dtype=torch.float32)
    if probs.shape != cache.y.shape:
        raise ValueError(f"teacher probabilities of shape {tuple(probs.shape)} for a cache of labels "
                         f"{tuple(cache.y.shape)}: score the teachers on this very cache (teacher_probs)")
    targets = weight * probs + (1 - weight) * cache.y.cpu().float()
    return cache._replace(targets=targets.clamp(0, 1).to(cache.y.device))


def agreement(cache: ImageCache, probs: np.ndarray) -> float:
    """Fraction of the (image, attribute) labels of ``cache`` that the teacher's probabilities agree with at 0.5:
    how far its soft targets are from the labels it was trained on."""
    return metrics.mean_accuracy(cache.y.cpu().numpy(), probs)
