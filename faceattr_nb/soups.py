"""Model soups: one network whose weights are the mean of several fine-tuned networks' weights.

M. Wortsman et al., "Model soups: averaging weights of multiple fine-tuned
models improves accuracy without increasing inference time", ICML 2022
(arXiv:2203.05482). An ensemble averages the runs' *predictions* and costs
their sum at inference; a soup averages their *weights* (eq. 1, the
"uniform soup"):

    theta_soup = (1 / k) * sum_i theta_i

and costs one network. It works when the runs were fine-tuned from the same
pretrained weights and stayed in one basin of the loss (section 3: the
error along the line between two such runs has no barrier); runs that left
it average into a worse network. The "greedy soup" (Recipe 1) sorts the runs
by validation accuracy and adds each one only when the soup's validation
accuracy does not fall, so it is never worse on val than the best run.

The paper's networks use LayerNorm. A BatchNorm network's running statistics
belong to the weights they were measured with, so a soup re-estimates them
on the training images (``refresh_batchnorm``, as SWA's ``update_bn`` does)
before it is scored. ``interpolate`` gives the network at any point of the
line between two runs, to see the barrier.
"""
import copy

import numpy as np
import torch
import torch.nn as nn

from faceattr_nb import metrics, train
from faceattr_nb.data.loaders import ImageCache, batches


def average_weights(models: list[nn.Module], weights: list[float] | None = None) -> nn.Module:
    """A copy of ``models[0]`` whose floating-point parameters and buffers are the weighted mean of the
    ``models``' (eq. 1 of the paper; ``weights`` default to 1/k each). Integer buffers (BatchNorm's batch
    counter) are the first model's. The models must share one architecture."""
    if not models:
        raise ValueError("no model to average: give at least one (train.load_model(run_dir))")
    weights = [1 / len(models)] * len(models) if weights is None else list(weights)
    if len(weights) != len(models) or not np.isclose(sum(weights), 1.0):
        raise ValueError(f"{len(weights)} weights summing to {sum(weights):.4f} for {len(models)} models: "
                         "give one weight per model, summing to 1")
    states = [m.state_dict() for m in models]
    keys = list(states[0])
    for i, state in enumerate(states[1:], 1):
        if list(state) != keys or any(state[k].shape != states[0][k].shape for k in keys):
            raise ValueError(f"model {i} has other layers or shapes than model 0: a soup needs one architecture "
                             "(runs of one spec and input side)")
    soup = copy.deepcopy(models[0])
    soup.load_state_dict({k: sum(w * s[k] for w, s in zip(weights, states)) if states[0][k].is_floating_point()
                          else states[0][k] for k in keys})
    return soup


def refresh_batchnorm(model: nn.Module, train_cache: ImageCache, batch_size: int = 64) -> nn.Module:
    """Re-estimate every BatchNorm layer's running statistics on ``train_cache``, in place: one pass without
    gradients, the mean over all batches (as ``torch.optim.swa_utils.update_bn``, which SWA uses). Only the
    BatchNorm layers run in training mode, so dropout and stochastic depth stay off and a model whose ``train()``
    keeps its base in inference mode (``XceptionTransfer`` after ``unfreeze_backbone(bn_eval=True)``) is
    refreshed too. Returns ``model``, in eval mode; a network without BatchNorm is returned unchanged."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.eval()
    if not norms:
        return model
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # None: a cumulative mean over the batches, not a moving average
        bn.train()
    device = next(model.parameters()).device
    with torch.no_grad():
        for x, _ in batches(train_cache, batch_size, device=device):
            model(x)
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    return model.eval()


def uniform_soup(models: list[nn.Module], train_cache: ImageCache, batch_size: int = 64) -> nn.Module:
    """Eq. 1: the mean of the ``models``' weights, BatchNorm re-estimated on ``train_cache``."""
    return refresh_batchnorm(average_weights(models), train_cache, batch_size)


def interpolate(a: nn.Module, b: nn.Module, alpha: float, train_cache: ImageCache,
                batch_size: int = 64) -> nn.Module:
    """The network (1 - alpha) * a + alpha * b, BatchNorm re-estimated on ``train_cache``: alpha 0 is ``a``'s
    weights, 1 is ``b``'s (section 3's error landscape along one line)."""
    return refresh_batchnorm(average_weights([a, b], [1 - alpha, alpha]), train_cache, batch_size)


def accuracy(model: nn.Module, cache: ImageCache, batch_size: int = 64) -> float:
    """Mean accuracy over the attributes of ``cache`` at threshold 0.5."""
    probs = train.predict(model, cache, batch_size)
    return metrics.mean_accuracy(cache.y.cpu().numpy(), probs)


def greedy_soup(models: list[nn.Module], train_cache: ImageCache, val: ImageCache, batch_size: int = 64,
                scores: list[float] | None = None) -> tuple[nn.Module, list[int]]:
    """Recipe 1 of the paper: the models sorted by val accuracy, best first; each is kept in the soup only when
    the soup's val accuracy does not fall. ``scores``: the models' val accuracies when the caller has them
    already (from their predictions), else measured here. Returns the soup (``models[i]`` itself when it kept
    one model) and the indices of its ingredients in ``models``."""
    if scores is None:
        scores = [accuracy(m, val, batch_size) for m in models]
    elif len(scores) != len(models):
        raise ValueError(f"{len(scores)} val scores for {len(models)} models: give one per model, or none")
    order = sorted(range(len(models)), key=lambda i: -scores[i])
    chosen, best, soup = [order[0]], scores[order[0]], models[order[0]]
    for i in order[1:]:
        candidate = uniform_soup([models[j] for j in [*chosen, i]], train_cache, batch_size)
        score = accuracy(candidate, val, batch_size)
        if score >= best:
            chosen, best, soup = [*chosen, i], score, candidate
    return soup, chosen
