"""Looking inside trained models: averaged outputs, attention entropy, agreement with labels, errors.

GAL's figure 5 is the affinity matrix averaged over images; these helpers
compute it (``mean_output``), say how peaked its rows are (``row_entropy``)
and how far it follows the label correlations of the training data
(``affinity_agreement``) and which pairs it links most (``top_pairs``).
Used in notebook 05.

Error analysis (notebooks 03 and 07): the faces a model gets wrong with the
most confidence (``confident_mistakes``, drawn by ``plots.mistake_grid``),
TP/FP/FN/TN per attribute (``confusion_counts``) and class-activation maps
of chosen attributes computed with torchcam's Grad-CAM (``attribute_cam``,
drawn by ``plots.cam_grid``). The Errors sections of 04-06: where a model falls
below the majority baseline and why (``below_majority``), and the faces two
models answer differently (``disagreements``).
"""
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.stats import spearmanr
from sklearn.metrics import multilabel_confusion_matrix

from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data.loaders import ImageCache, batches
from faceattr_nb.eda import label_consistency
from faceattr_nb.metrics import majority_predict


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


# ---------------------------------------------------------------- error analysis


def confident_mistakes(y: np.ndarray, probs: np.ndarray, attr: str | list[str], k: int = 8,
                       attrs: list[str] | None = None, threshold: float = 0.5,
                       true: int | None = None) -> pd.DataFrame:
    """The ``k`` most confident wrong predictions for each attribute of ``attr``.

    ``y``: (N, A) labels in {0,1}; ``probs``: (N, A) sigmoid outputs; ``attrs``:
    the names of the A columns (default: the 40 CelebA attributes). A face is
    a mistake when ``probs >= threshold`` disagrees with its label; its
    confidence is the probability the model gave to the class it chose
    (p for a predicted 1, 1 - p for a predicted 0). ``true``: only the faces
    with this label (0: the false positives, 1: the false negatives). One row
    per mistake, most confident first within each attribute: attr, row (the
    face's index in ``y``), true, predicted, prob, confidence.
    """
    if true not in (None, 0, 1):
        raise ValueError(f"true={true!r}: pass 0 (false positives), 1 (false negatives) or None (both)")
    y, probs = np.asarray(y), np.asarray(probs, dtype=np.float64)
    if y.shape != probs.shape or y.ndim != 2:
        raise ValueError(f"y {y.shape} and probs {probs.shape} must be the same (N, A)")
    names = _names(attrs, y.shape[1])
    tables = []
    for a in [attr] if isinstance(attr, str) else list(attr):
        if a not in names:
            raise ValueError(f"unknown attribute {a!r}; the columns are {names[:4]} ... (spelled as CelebA does)")
        p = probs[:, names.index(a)]
        pred = (p >= threshold).astype(np.int64)
        confidence = np.where(pred == 1, p, 1 - p)  # the probability of the class the model chose
        wrong = pred != y[:, names.index(a)]
        wrong = np.flatnonzero(wrong if true is None else wrong & (y[:, names.index(a)] == true))
        order = wrong[np.argsort(-confidence[wrong], kind="stable")][:k]
        tables.append(pd.DataFrame({"attr": a, "row": order, "true": y[order, names.index(a)].astype(np.int64),
                                    "predicted": pred[order], "prob": p[order], "confidence": confidence[order]}))
    return pd.concat(tables, ignore_index=True)


def confusion_counts(y: np.ndarray, probs: np.ndarray, attrs: list[str] | None = None,
                     threshold: float | np.ndarray = 0.5) -> pd.DataFrame:
    """TP, FP, FN, TN per attribute (sklearn's ``multilabel_confusion_matrix``) at ``threshold``
    (one number, or one per attribute), with the precision and recall they give.

    Rows: the attributes (``attrs`` names the A columns; default the 40 CelebA
    attributes). A rare attribute the model never predicts shows TP = FP = 0:
    high accuracy, recall 0."""
    y, probs = np.asarray(y), np.asarray(probs, dtype=np.float64)
    if y.shape != probs.shape or y.ndim != 2:
        raise ValueError(f"y {y.shape} and probs {probs.shape} must be the same (N, A)")
    pred = (probs >= np.asarray(threshold, dtype=np.float64)).astype(np.int64)
    m = multilabel_confusion_matrix(y.astype(np.int64), pred)  # (A, 2, 2): [[TN, FP], [FN, TP]]
    table = pd.DataFrame({"TP": m[:, 1, 1], "FP": m[:, 0, 1], "FN": m[:, 1, 0], "TN": m[:, 0, 0]},
                         index=pd.Index(_names(attrs, y.shape[1]), name="attr"))
    predicted, positive = table.TP + table.FP, table.TP + table.FN
    table["precision"] = np.where(predicted > 0, table.TP / predicted.where(predicted > 0, 1), np.nan)
    table["recall"] = np.where(positive > 0, table.TP / positive.where(positive > 0, 1), np.nan)
    return table


def disagreements(y: np.ndarray, probs_a: np.ndarray, probs_b: np.ndarray, names: tuple[str, str] = ("a", "b"),
                  attrs: list[str] | None = None, threshold: float = 0.5) -> pd.DataFrame:
    """Per attribute, the faces that one model gets right and the other wrong (both ways).

    Columns "<a> alone right", "<b> alone right", "net" (their difference), "both wrong"
    (the faces neither gets right) and "gap (points)" (100 net / N: model a's accuracy
    minus b's in accuracy points, exactly). Two models a fraction of a point apart may
    still disagree on many faces: the gap is what is left after the two counts cancel.
    Rows: the attributes (``attrs``, default CelebA's 40)."""
    y = np.asarray(y)
    right = {}
    for name, probs in zip(names, (probs_a, probs_b)):
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != y.shape or y.ndim != 2:
            raise ValueError(f"y {y.shape} and the probabilities of {name} {probs.shape} must be the same (N, A)")
        right[name] = (probs >= threshold) == (y == 1)
    a, b = names
    table = pd.DataFrame({f"{a} alone right": (right[a] & ~right[b]).sum(0),
                          f"{b} alone right": (right[b] & ~right[a]).sum(0)},
                         index=pd.Index(_names(attrs, y.shape[1]), name="attr"))
    table["net"] = table.iloc[:, 0] - table.iloc[:, 1]
    table["both wrong"] = (~right[a] & ~right[b]).sum(0)
    table["gap (points)"] = 100 * table["net"] / len(y)
    return table


def below_majority(y: np.ndarray, probs: np.ndarray, train_y: np.ndarray, identity: np.ndarray | None = None,
                   attrs: list[str] | None = None, k: int = 5, threshold: float = 0.5) -> pd.DataFrame:
    """The ``k`` attributes where a model is furthest below the majority baseline, and the numbers
    that say why.

    The majority says every face has the class most frequent in ``train_y`` (N_train, A). The
    model's accuracy minus the majority's, in faces, is exactly the faces the model gets right
    where the majority is wrong (the minority class) minus those it gets wrong where the
    majority is right. Columns: "vs majority (points)" (100 x that difference / N),
    "majority class", "right where the majority is wrong", "wrong where the majority is right",
    "train rate" and "test rate" (the positive rate in ``train_y`` and ``y``: a rate that moved
    changes what the majority scores), and with ``identity`` (N,; -1 unknown) the test people's
    "agreement" and "agreement by chance" (``eda.label_consistency``: a label that ignores the
    person agrees only by chance). Sorted from the lowest."""
    y, probs = np.asarray(y), np.asarray(probs, dtype=np.float64)
    if y.shape != probs.shape or y.ndim != 2:
        raise ValueError(f"y {y.shape} and probs {probs.shape} must be the same (N, A)")
    train_y = np.asarray(train_y)
    if train_y.ndim != 2 or train_y.shape[1] != y.shape[1]:
        raise ValueError(f"train_y {train_y.shape} needs the {y.shape[1]} attribute columns of y")
    names = _names(attrs, y.shape[1])
    majority = majority_predict(train_y, 1)[0].astype(np.int64)  # (A,)
    right = (probs >= threshold) == (y == 1)
    minority = y != majority  # the faces the majority gets wrong
    table = pd.DataFrame({"majority class": majority,
                          "right where the majority is wrong": (right & minority).sum(0),
                          "wrong where the majority is right": (~right & ~minority).sum(0),
                          "train rate": train_y.mean(0), "test rate": y.mean(0)},
                         index=pd.Index(names, name="attr"))
    table.insert(0, "vs majority (points)", 100 * (table.iloc[:, 1] - table.iloc[:, 2]) / len(y))
    if identity is not None and (np.asarray(identity) >= 0).any():  # -1: unknown (Kaggle's copy has no people)
        same = label_consistency(y, np.asarray(identity), names)
        table[["agreement", "agreement by chance"]] = same[["agreement", "agreement by chance"]].to_numpy()
    return table.sort_values("vs majority (points)", kind="stable").head(k)


class LogitsOnly(nn.Module):
    """A course model seen as a plain classifier: ``model(x)["logits"]`` (B, A), for torchcam."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["logits"]  # (B, A)


def cam_layer(model: nn.Module, x: torch.Tensor, outputs: list[int] | None = None,
              finer_than: tuple[int, int] | None = None) -> str:
    """The Grad-CAM target of ``model`` for inputs like ``x``: the name of the last module whose
    output is a feature map (B, C, h, w) with C > 1 and h, w > 1, no larger than its input (a pool
    that enlarges a 1x1 map only repeats it), on the path of each logit in ``outputs`` (indices;
    default: of any logit). The deepest layer that still knows *where* and feeds each attribute
    asked for: a per-group branch (PSE's sub-networks) feeds only its group's attributes.
    ``finer_than=(h, w)``: only maps with more cells than h x w (an earlier, finer layer)."""
    maps: dict[str, torch.Tensor] = {}
    min_cells = finer_than[0] * finer_than[1] + 1 if finer_than else 0

    def keep(name: str, inp: tuple, out) -> None:
        if (isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[1] > 1 and min(out.shape[-2:]) > 1
                and out.shape[-2:].numel() >= min_cells):
            src = inp[0] if inp and isinstance(inp[0], torch.Tensor) else None
            if src is None or src.ndim != 4 or src.shape[-2:].numel() >= out.shape[-2:].numel():
                maps[name] = out

    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: keep(name, inp, out))
             for name, m in model.named_modules()
             if name and not list(m.children()) and not isinstance(m, nn.Identity)]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model(x[:2].detach().clone().requires_grad_(True))["logits"]  # (b, A)
            scores = [logits.sum()] if outputs is None else [logits[:, a].sum() for a in outputs]
            for name in reversed(list(maps)):
                if all(_feeds(score, maps[name]) for score in scores):
                    return name
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    raise ValueError("no layer with a (B, C, h, w) output feeds every attribute asked for: pass "
                     "target_layer= (a name from model.named_modules())")


def map_size(model: nn.Module, x: torch.Tensor, layer: str) -> tuple[int, int]:
    """(h, w) of the feature map that module ``layer`` of ``model`` outputs for inputs like ``x``:
    how many cells a Grad-CAM map at that layer has before it is stretched over the image."""
    size: list[tuple[int, int]] = []
    hook = dict(model.named_modules())[layer].register_forward_hook(
        lambda mod, inp, out: size.append(tuple(out.shape[-2:])))
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x[:1])
    finally:
        hook.remove()
        model.train(was_training)
    return size[0]


def _feeds(score: torch.Tensor, feature: torch.Tensor) -> bool:
    """Whether ``score`` has a non-zero gradient at ``feature`` (an index or concatenation
    downstream keeps the graph connected, with zero gradient, for outputs a branch does not feed)."""
    grad = torch.autograd.grad(score, feature, retain_graph=True, allow_unused=True)[0]
    return grad is not None and bool(grad.abs().sum() > 0)


def attribute_cam(model: nn.Module, x: torch.Tensor, attrs: list[str], target_layer: str | None = None,
                  names: list[str] | None = None) -> np.ndarray:
    """Grad-CAM maps (torchcam's ``GradCAM``) of attributes ``attrs`` for the images ``x``.

    ``x``: (B, C, H, W) normalised as the model was trained (e.g. from
    ``data.loaders.batches``); ``target_layer``: a name from
    ``model.named_modules()`` (default: ``cam_layer``, the deepest feature
    map that feeds every attribute of ``attrs``);
    ``names``: the model's A outputs (default the 40 CelebA attributes).
    The model is wrapped (``LogitsOnly``) so that torchcam sees logits (B, A).
    Returns (B, K, H, W) float32 maps, K = len(attrs), each in [0, 1]
    (normalised per image and attribute), bilinearly upsampled to the input's
    size. A map is all zeros where no location raises the attribute's logit.
    """
    from torchcam.methods import GradCAM
    names = _names(names, None)
    missing = [a for a in attrs if a not in names]
    if missing:
        raise ValueError(f"unknown attributes {missing}; the model's outputs are {names[:4]} ...")
    was_training = model.training
    model.eval()
    wrapped = LogitsOnly(model)
    layer = "model." + (target_layer or cam_layer(model, x, [names.index(a) for a in attrs]))
    extractor = GradCAM(wrapped, target_layer=layer)
    try:
        with torch.enable_grad():
            # a frozen backbone has no parameter that needs a gradient: the input's gradient keeps the graph
            logits = wrapped(x.detach().clone().requires_grad_(True))  # (B, A)
            maps = [extractor(names.index(a), logits, retain_graph=True)[0] for a in attrs]  # K x (B, h, w)
    finally:
        extractor.remove_hooks()
        model.train(was_training)
    maps = torch.stack(maps, 1).float()  # (B, K, h, w)
    maps = F.interpolate(maps, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, K, H, W)
    return maps.clamp(0, 1).detach().cpu().numpy()


def _names(attrs: list[str] | None, n: int | None) -> list[str]:
    names = list(attrs or ATTRIBUTES)
    if n is not None and len(names) != n:
        raise ValueError(f"{n} columns but {len(names)} attribute names: pass attrs= with the column names")
    return names
