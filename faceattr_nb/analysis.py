"""Looking inside trained models: averaged outputs, attention entropy, agreement with labels.

GAL's figure 5 is the affinity matrix averaged over images; these helpers
compute it (``mean_output``), say how peaked its rows are (``row_entropy``)
and how far it follows the label correlations of the training data
(``affinity_agreement``) and which pairs it links most (``top_pairs``).
Used in notebook 05.
"""
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from scipy.stats import spearmanr

from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data.loaders import ImageCache, batches


@torch.no_grad()
def mean_output(model: nn.Module, cache: ImageCache, key: str = "affinity", batch_size: int = 256,
                device: str | None = None) -> np.ndarray:
    """The mean over every image of ``cache`` of ``model(x)[key]`` (e.g. GAL's (A, A) affinity)."""
    device = torch.device(device or next(model.parameters()).device)
    model.eval()
    total, n = None, 0
    for x, _ in batches(cache, batch_size, device=device):
        out = model(x)
        if key not in out:
            raise KeyError(f"the model's output has no {key!r}; it has {sorted(out)} "
                           "(GAL's baseline has no 'affinity': use variant 'c', 'j' or 'p')")
        s = out[key].float().sum(0)
        total = s if total is None else total + s
        n += len(x)
    return (total / n).cpu().numpy()


def row_entropy(attention: np.ndarray | torch.Tensor, normalize: bool = True) -> np.ndarray:
    """Entropy of each row of row-stochastic matrices (..., A, A) -> (..., A).

    With ``normalize`` it is divided by log(A): 0 for a one-hot row (a node
    attends to one node only), 1 for a uniform row."""
    p = np.asarray(attention.detach().cpu() if hasattr(attention, "detach") else attention, dtype=np.float64)
    h = -(p * np.log(np.clip(p, 1e-300, None))).sum(-1)
    return h / np.log(p.shape[-1]) if normalize else h


def affinity_agreement(affinity: np.ndarray, correlation: np.ndarray | pd.DataFrame,
                       absolute: bool = False) -> float:
    """Spearman correlation between the off-diagonal entries of an affinity (A, A) and a label correlation.

    The affinity is symmetrised ((M + M^T) / 2, rows of an attention need not
    be symmetric) and the A(A-1)/2 pairs above the diagonal are ranked; with
    ``absolute`` the correlation's magnitude |phi| is used (an attention
    weight cannot be negative, while a strong negative phi is also a strong
    relation)."""
    a = np.asarray(affinity, dtype=np.float64)
    c = np.asarray(correlation, dtype=np.float64)
    if a.shape != c.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"affinity {a.shape} and correlation {c.shape} must be the same square (A, A)")
    upper = np.triu_indices(len(a), k=1)
    a = ((a + a.T) / 2)[upper]
    c = np.abs(c[upper]) if absolute else c[upper]
    if np.ptp(a) == 0 or np.ptp(c) == 0:
        return float("nan")  # a constant side has no ranking (e.g. an untrained, uniform affinity)
    return float(spearmanr(a, c).statistic)


def top_pairs(affinity: np.ndarray, correlation: np.ndarray | pd.DataFrame | None = None, k: int = 10,
              attrs: list[str] | None = None) -> pd.DataFrame:
    """The k attribute pairs with the largest symmetrised off-diagonal affinity.

    Columns: attr_a, attr_b, weight ((M_ab + M_ba) / 2) and, with
    ``correlation``, its phi for the same pair."""
    a = np.asarray(affinity, dtype=np.float64)
    names = list(attrs or (ATTRIBUTES if len(a) == len(ATTRIBUTES) else range(len(a))))
    i, j = np.triu_indices(len(a), k=1)
    table = pd.DataFrame({"attr_a": [names[t] for t in i], "attr_b": [names[t] for t in j],
                          "weight": ((a + a.T) / 2)[i, j]})
    if correlation is not None:
        table["phi"] = np.asarray(correlation, dtype=np.float64)[i, j]
    return table.nlargest(k, "weight").reset_index(drop=True)
