"""The course's figures: label statistics, faces, training curves, attention, comparisons.

Every function returns a ``matplotlib.figure.Figure`` that is already
closed in pyplot: nothing is shown or kept by pyplot, no plt.show, no
global style change; under Agg/nbmake nothing is drawn on screen, and in
JupyterLab the figure renders exactly once, as the cell's result when it is
the last expression (else ``display(fig)``; ``fig.savefig(path)`` to keep
it); two figures in one cell need ``display``. ``source`` (e.g. "synthetic")
is appended to each title, so a figure drawn from generated faces always
says so. Tables behind the figures live in ``metrics``
(``label_correlation``, ``strongest_pairs``) and ``analysis``. Used in notebooks 01-07.
"""
import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from faceattr_nb.attributes import ATTRIBUTES, display_name
from faceattr_nb.metrics import label_correlation
from faceattr_nb.thresholds import score_from_counts


def positive_rates(table_or_rates: pd.DataFrame | pd.Series | np.ndarray, attrs: list[str] | None = None,
                   source: str = "") -> Figure:
    """Share of faces with each attribute, sorted, as horizontal bars with a 50 % line.
    Takes a label table/array (N, A) or the rates themselves (A,). Used in notebook 01."""
    rates = _rates(table_or_rates, attrs).sort_values()
    fig = _figure(6, 0.2 * len(rates) + 1.2)
    ax = fig.subplots()
    ax.barh([_name(a) for a in rates.index], rates.to_numpy() * 100, color="tab:blue")
    ax.axvline(50, color="tab:red", ls="--", lw=1, label="50 %")
    ax.set(xlabel="faces with the attribute (%)", xlim=(0, 100),
           title=_title("Positive rate per attribute", source))
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="lower right")
    return fig


def correlation_heatmap(labels_df: pd.DataFrame | np.ndarray, source: str = "", cluster: bool = True,
                        attrs: list[str] | None = None) -> Figure:
    """Phi correlation (Pearson on 0/1 labels) of every attribute pair as a heatmap,
    rows ordered by average-linkage clustering on 1 - phi when ``cluster``. Used in notebooks 01, 06."""
    corr = label_correlation(labels_df, attrs)
    if cluster and len(corr) > 2:
        distance = squareform(1.0 - corr.to_numpy(), checks=False)
        order = leaves_list(linkage(distance, method="average"))
        corr = corr.iloc[order, order]
    return _matrix(corr, _title("Label correlation (phi)" + (", clustered" if cluster else ""), source),
                   cmap="RdBu_r", vmin=-1, vmax=1)


def affinity_heatmap(matrix: np.ndarray, attrs: list[str] | None = None, title: str = "Affinity",
                     source: str = "", hide_diagonal: bool = False) -> Figure:
    """A labelled A x A matrix (GAL's learned affinity, row i = weights node i takes
    from every node j), in the attribute order given. ``hide_diagonal``: leave the
    self-weights blank and scale the colours to the weights between attributes, which
    a near-one diagonal would otherwise drown. Used in notebook 05."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (A, A), got shape {matrix.shape}")
    names = attrs or (ATTRIBUTES if len(matrix) == len(ATTRIBUTES) else [str(i) for i in range(len(matrix))])
    if hide_diagonal:
        matrix = np.where(np.eye(len(matrix), dtype=bool), np.nan, matrix)
        title = f"{title}, self-weights left blank"
    table = pd.DataFrame(matrix, index=names, columns=names)
    return _matrix(table, _title(title, source), cmap="viridis")


def delta_heatmap(df: pd.DataFrame, title: str = "Accuracy minus baseline", source: str = "",
                  annotate: bool | None = None, unit: str = "accuracy points") -> Figure:
    """Attributes x models table of differences on a diverging scale symmetric about 0
    (values printed when the table is small), the colour bar labelled ``unit``. Used in notebook 07."""
    values = df.astype(np.float64)
    limit = float(np.nanmax(np.abs(values.to_numpy()))) if values.size else 1.0
    annotate = values.shape[1] <= 8 if annotate is None else annotate
    fig = _figure(2 + 1.1 * values.shape[1], 0.22 * len(values) + 1.5)
    ax = fig.subplots()
    sns.heatmap(values.rename(index=_name), ax=ax, cmap="RdBu", vmin=-limit or -1, vmax=limit or 1,
                annot=annotate, fmt=".2f", annot_kws={"size": 6}, cbar_kws={"shrink": 0.6, "label": unit})
    ax.set_facecolor("0.8")  # a missing value (a run without that attribute) grey, not the white of 0
    ax.set(title=_title(title, source), ylabel="", xlabel="")
    ax.tick_params(axis="y", labelsize=7)
    return fig


def per_attribute_bars(df: pd.DataFrame, column: str = "accuracy", baseline_column: str | None = None,
                       source: str = "", sort: bool = True, title: str | None = None) -> Figure:
    """One bar per attribute (``df`` indexed by attribute, e.g. ``metrics.per_attribute``),
    with ``baseline_column`` (e.g. 'majority_accuracy') as a grey bar beside it. Used in notebooks 02-07."""
    columns = [column] + ([baseline_column] if baseline_column else [])
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the table; it has {list(df.columns)}")
    table = df[columns].sort_values(column) if sort else df[columns]
    fig = _figure(7, 0.22 * len(table) + 1.5)
    ax = fig.subplots()
    y = _grouped_barh(ax, table, columns, colors=("tab:blue", "0.65"))
    ax.set_yticks(y, [_name(a) for a in table.index], fontsize=7)
    name = column.replace("_", " ")
    ax.set(xlabel=name if len(columns) == 1 else "score", ylim=(-0.6, len(table) - 0.4),
           title=_title(title or f"{name} per attribute", source))
    _legend_below(fig, ax)
    return fig


def training_curves(histories, keys: Sequence[str] = ("train_loss", "val_loss", "val_accuracy"),
                    names: Sequence[str] | None = None, source: str = "",
                    start: dict[str, int] | None = None) -> Figure:
    """One panel per key of the run histories (one row per epoch), one line per run.

    Pass one history, a list (with ``names``) or a dict name -> history; a
    ``train.Run`` in place of a history also rings, in every panel, the epoch
    whose weights ``fit`` kept (by its config's ``monitor``). ``start``: name ->
    the epoch a run continues from (a fine-tuning phase drawn after the frozen
    phase's kept epoch). Used in notebooks 02-06.
    """
    from faceattr_nb.train import kept_epoch  # train imports torch; plots alone need not

    if isinstance(histories, pd.DataFrame) or hasattr(histories, "history"):
        histories = [histories]
    if not isinstance(histories, dict):
        histories = list(histories)
        histories = dict(zip(names or [f"run {i}" for i in range(len(histories))], histories))
    fig = _figure(4.2 * len(keys), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    lines, ringed = {}, False
    for ax, key in zip(axes, keys):
        for i, (name, run) in enumerate(histories.items()):
            history = pd.DataFrame(getattr(run, "history", run))
            if key not in history:  # one colour per run in every panel, even where a run lacks a key
                continue
            x = history["epoch"] if "epoch" in history else pd.Series(np.arange(1, len(history) + 1))
            x = x + (start or {}).get(name, 0)
            lines[name] = ax.plot(x, history[key], marker="o", ms=3, color=f"C{i % 10}", label=name)[0]
            config = run.record.get("config") if hasattr(run, "record") else None  # a Run, not a bare history
            if config and "epoch" in history and config["monitor"] in history:
                kept = history["epoch"] == kept_epoch(history, config["monitor"], config["min_delta"])
                ax.plot(x[kept], history.loc[kept, key], "o", ms=10, mfc="none", mec=f"C{i % 10}", mew=1.5)
                ringed = True
        ax.set(title=key, xlabel="epoch")
    axes[0].legend(lines.values(), lines.keys(), fontsize=8)
    fig.suptitle(_title("Training curves" + (", ringed: the epoch whose weights are kept" if ringed else ""),
                        source))
    return fig


def sample_grid(images, labels, attrs: list[str] | None = None, ncols: int = 6,
                show_attrs: list[str] | None = None, source: str = "", max_labels: int = 4) -> Figure:
    """Faces in a grid with up to ``max_labels`` of their positive attributes written
    under each (only those in ``show_attrs`` when given), the rarest in CelebA first: a
    face's "Bald" or "Eyeglasses" says more than its "No Beard" or "Attractive".
    ``images``: uint8 (N, C, H, W) array/tensor or a list of PIL images; ``labels``:
    (N, A) array or a table with attribute columns. Used in notebooks 01-04."""
    from faceattr_nb.data.synthetic import load_stats  # CelebA's training rates, shipped with the package
    rate = dict(zip(ATTRIBUTES, load_stats()["rates"]))
    faces = _faces(images)
    rows = _label_rows(labels, attrs, len(faces))
    fig, axes = _panels(len(faces), ncols, 1.7, 2.1, images=True)
    for ax, face, row in zip(axes, faces, rows):
        ax.imshow(face, cmap="gray" if face.ndim == 2 else None)
        on = sorted((a for a, v in row.items() if v == 1 and (show_attrs is None or a in show_attrs)),
                    key=lambda a: rate.get(a, np.inf))  # other names keep their order, after CelebA's
        text = "\n".join(_name(a) for a in on[:max_labels]) + ("\n…" if len(on) > max_labels else "")
        ax.set_title(text or "(none)", fontsize=6, y=0, pad=-3, va="top")
    fig.suptitle(_title("Faces and their rarest positive labels", source))
    return fig


def heatmap_masks(image, masks, names: Sequence[str] | None = None, source: str = "",
                  alpha: float = 0.5, ncols: int = 5, vmin: float | None = None,
                  vmax: float | None = None) -> Figure:
    """The face, then each attention mask (G, h, w) stretched over it (bilinear), one
    panel per mask — PSE's Figure 5 and GAL's location maps. Every mask is drawn on one
    colour scale, ``vmin``..``vmax`` (default: the smallest and largest weight of all
    masks), shown by one colour bar, so panels can be compared. Used in notebooks 04, 05."""
    face = _faces([image])[0]
    masks = np.asarray(masks.detach().cpu() if hasattr(masks, "detach") else masks, dtype=np.float64)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (G, h, w), got shape {masks.shape}")
    names = list(names) if names is not None else [f"mask {g}" for g in range(len(masks))]
    if len(names) != len(masks):
        raise ValueError(f"{len(names)} names for {len(masks)} masks")
    vmin = float(masks.min()) if vmin is None else vmin
    vmax = float(masks.max()) if vmax is None else vmax
    height, width = face.shape[:2]
    panels = len(masks) + 1
    fig, axes = _panels(panels, min(ncols, panels), 2.2, 2.4, images=True)
    axes[0].imshow(face, cmap="gray" if face.ndim == 2 else None)
    axes[0].set_title("input", fontsize=8)
    for ax, mask, name in zip(axes[1:], masks, names):
        ax.imshow(face, cmap="gray" if face.ndim == 2 else None)
        shown = ax.imshow(mask, cmap="jet", alpha=alpha, extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                          interpolation="bilinear", vmin=vmin, vmax=vmax)
        ax.set_title(name, fontsize=8)
    fig.colorbar(shown, ax=list(axes), shrink=0.8, label="mask weight")
    fig.suptitle(_title("Attention masks over the face", source))
    return fig


def cost_scatter(df: pd.DataFrame, x: str, y: str, label: str | None = None, source: str = "",
                 logx: bool = False, title: str | None = None) -> Figure:
    """Accuracy against cost (parameters, FLOPs, ms/image): one labelled point per
    row of ``df``; ``label`` names the column of point labels (default: the index). Used in notebook 07."""
    missing = [c for c in (x, y) + ((label,) if label else ()) if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the table; it has {list(df.columns)}")
    points = df.dropna(subset=[x, y])
    texts = points[label] if label else points.index
    fig = _figure(6, 4.5)
    ax = fig.subplots()
    ax.scatter(points[x], points[y], color="tab:blue")
    notes = [ax.annotate(str(text), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8,
                         arrowprops=dict(arrowstyle="-", color="0.6", lw=0.5, shrinkA=0, shrinkB=2))
             for xi, yi, text in zip(points[x], points[y], texts)]
    if logx:
        ax.set_xscale("log")
    words = {c: c.replace("_", " ") for c in (x, y)}  # "margin_over_majority" -> "margin over majority"
    ax.set(xlabel=words[x], ylabel=words[y], title=_title(title or f"{words[y]} against {words[x]}", source))
    ax.grid(alpha=0.3)
    _unstack_labels(ax, notes)
    return fig


def _unstack_labels(ax, notes: list, gap: float = 1.0, tries: int = 50) -> None:
    """Move the point labels of ``ax`` apart until no two overlap: down in the upper half of the
    axes, up in the lower half, so they stay inside (a thin line ties each to its point). Runs
    with close costs and scores (notebook 07's cost plots) stacked their names on one another."""
    for note in notes:
        note.set_in_layout(False)  # a moved label must not squeeze the axes
    ax.figure.draw_without_rendering()  # the constrained layout first: it moves the points
    def box(note):  # the label's text alone (an Annotation's own box holds its line), with a margin
        return Text.get_window_extent(note).padded(3)  # labels that merely touch read as one ("blan_encblan")

    frame = ax.get_window_extent()
    for note in notes:
        if box(note).x1 > frame.x1:  # past the right edge: write it to the left of its point
            note.xyann = (-note.xyann[0], note.xyann[1])
            note.set_horizontalalignment("right")
    upper = [n for n in notes if box(n).y0 > frame.y0 + frame.height / 2]
    lower = [n for n in notes if n not in upper]
    for group, down in ((sorted(upper, key=lambda n: -box(n).y1), True),
                        (sorted(lower, key=lambda n: box(n).y0), False)):
        placed = []
        for note in group:
            for _ in range(tries):
                hit = [p for p in placed if box(note).overlaps(p)]
                if not hit:
                    break
                pixels = (min(p.y0 for p in hit) - box(note).y1 - gap if down
                          else max(p.y1 for p in hit) - box(note).y0 + gap)
                note.xyann = (note.xyann[0], note.xyann[1] + pixels * 72 / ax.figure.dpi)  # pixels -> points
            placed.append(box(note))


# The nine attributes of BLAN's Fig. 3, in its panel order (a)-(i).
BLAN_FIG3_ATTRS = ["Bags_Under_Eyes", "Big_Nose", "Big_Lips", "Black_Hair", "Blond_Hair", "Brown_Hair",
                   "Oval_Face", "Young", "Arched_Eyebrows"]


def level_accuracy_figure(table: pd.DataFrame, attrs: Sequence[str] | None = None, fused: str | None = "fused",
                          source: str = "", ncols: int = 3,
                          title: str = "Accuracy of each attribute classifier", n_faces: int | None = None) -> Figure:
    """BLAN's Fig. 3: one panel per attribute, one bar per classifier (``table``: rows =
    attributes, columns = e.g. AC1..AC4 and ``fused``, accuracies in [0, 1]); the best
    classifier is orange (every one of them, on a tie), the fused output grey. ``attrs``: the
    panels (default: the paper's nine). ``n_faces``: the test faces behind each bar, to say in
    the title what one face is worth on these zoomed axes. Used in notebook 06."""
    attrs = list(attrs or BLAN_FIG3_ATTRS)
    missing = [a for a in attrs if a not in table.index]
    if missing:
        raise ValueError(f"attributes {missing} not in the table's rows; it has {list(table.index)[:5]} ...")
    columns = [str(c) for c in table.columns]
    fig, axes = _panels(len(attrs), ncols, 3.0, 2.3)
    for ax, attr in zip(axes, attrs):
        values = table.loc[attr].to_numpy(dtype=np.float64) * 100
        levels = [i for i, c in enumerate(columns) if c != fused]
        best = {i for i in levels if values[i] == np.nanmax(values[levels])}
        colors = ["0.6" if c == fused else "tab:orange" if i in best else "tab:blue" for i, c in enumerate(columns)]
        ax.bar(columns, values, color=colors)
        low, high = np.nanmin(values), np.nanmax(values)
        pad = max(0.4 * (high - low), 0.5)
        ax.set_ylim(max(low - pad, 0), min(high + pad, 100))
        ax.set_title(_name(attr), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[::ncols]:
        ax.set_ylabel("accuracy (%)", fontsize=8)
    if n_faces:
        title = f"{title}; one test face = {100 / n_faces:.2f} points"
    fig.suptitle(_title(title, source))
    return fig


def metric_bars(df: pd.DataFrame, columns: Sequence[str] = ("accuracy", "balanced_accuracy", "f1"),
                sort_by: str | None = "positive_rate", source: str = "", title: str | None = None) -> Figure:
    """Several per-attribute metrics side by side (``df`` indexed by attribute), one group
    of bars per attribute, sorted by ``sort_by`` (default: rarest attribute first), so
    accuracy that stays high while F1 falls to 0 shows where the mean flatters. Used in notebook 07."""
    missing = [c for c in [*columns, *([sort_by] if sort_by else [])] if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the table; it has {list(df.columns)}")
    table = df.sort_values(sort_by) if sort_by else df
    fig = _figure(7.5, 0.26 * len(table) + 1.5)
    ax = fig.subplots()
    y = _grouped_barh(ax, table, columns)
    labels = [f"{_name(a)} ({table.loc[a, sort_by]:.0%})" if sort_by == "positive_rate" else _name(a)
              for a in table.index]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set(xlim=(0, 1), ylim=(-0.6, len(table) - 0.4), xlabel="score",
           title=_title(title or "Accuracy, balanced accuracy and F1 per attribute", source))
    _legend_below(fig, ax)
    return fig


def threshold_gain_bars(gain: pd.DataFrame, spread: pd.DataFrame | None = None, source: str = "") -> Figure:
    """Per-attribute gain of thresholds tuned on validation, scored on test (bars,
    ``thresholds.threshold_gain``), beside the gain on held-out identity folds, mean ± std
    (``thresholds.cv_threshold_spread``). Used in notebook 07."""
    metric = gain.attrs.get("metric", "f1")
    table = gain.sort_values("gain")
    fig = _figure(7, 0.22 * len(table) + 1.5)
    ax = fig.subplots()
    y = np.arange(len(table))
    ax.barh(y, table["gain"], height=0.6, color="tab:blue", label="test gain (tuned on val)")
    if spread is not None:
        cv = spread.reindex(table.index)
        ax.errorbar(cv["gain_mean"], y, xerr=cv["gain_std"], fmt="o", ms=3, color="tab:orange",
                    label=f"held-out fold gain, mean ± std ({spread.attrs.get('n_splits', '?')} identity folds)")
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y, [_name(a) for a in table.index], fontsize=7)
    ax.set(xlabel=f"{metric} gain over threshold 0.5", ylim=(-0.6, len(table) - 0.4),
           title=_title(f"What per-attribute thresholds buy ({metric})", source))
    _legend_below(fig, ax)
    return fig


def threshold_curves(y: np.ndarray, probs: np.ndarray, attrs: Sequence[str] | None = None,
                     show: Sequence[str] | None = None, thresholds: np.ndarray | None = None,
                     threshold: float = 0.5, source: str = "") -> Figure:
    """For each attribute of ``show`` (default: the first four): precision, recall and F1
    against the decision threshold (left) and the scores of positive and negative faces
    (right), with ``threshold`` (grey) and the tuned per-attribute ``thresholds`` (red)
    marked. The static face of ``threshold_explorer``. Used in notebook 07."""
    y, probs = np.asarray(y), np.asarray(probs, dtype=np.float64)
    names = list(attrs or (ATTRIBUTES if probs.shape[1] == len(ATTRIBUTES) else range(probs.shape[1])))
    show = list(show or names[:4])
    fig = _figure(9, 2.4 * len(show) + 0.6)
    axes = np.atleast_2d(fig.subplots(len(show), 2, squeeze=False))
    grid = np.linspace(0.01, 0.99, 99)
    for (left, right), attr in zip(axes, show):
        a = names.index(attr)
        pred = probs[:, a, None] >= grid  # (N, T)
        truth = y[:, a, None].astype(bool)
        tp, fp, fn = (pred & truth).sum(0), (pred & ~truth).sum(0), (~pred & truth).sum(0)
        precision = np.divide(tp, tp + fp, out=np.zeros(len(grid)), where=tp + fp > 0)
        recall = np.divide(tp, tp + fn, out=np.zeros(len(grid)), where=tp + fn > 0)
        f1 = score_from_counts(tp, fp, fn, 0, "f1")
        for values, label in ((precision, "precision"), (recall, "recall"), (f1, "F1")):
            left.plot(grid, values, label=label)
        right.hist([probs[~truth[:, 0], a], probs[truth[:, 0], a]], bins=20, range=(0, 1),
                   label=["negative faces", "positive faces"], color=["0.6", "tab:green"])
        for ax in (left, right):
            ax.axvline(threshold, color="0.3", ls="--", lw=1)
            if thresholds is not None:
                ax.axvline(thresholds[a], color="tab:red", lw=1.2)
        at = probs[:, a] >= threshold
        tp_t, fp_t, fn_t = int((at & truth[:, 0]).sum()), int((at & ~truth[:, 0]).sum()), int((~at & truth[:, 0]).sum())
        left.set_title(f"at {threshold:.2f}: TP {tp_t}, FP {fp_t}, FN {fn_t}, "
                       + (f"F1 {score_from_counts(tp_t, fp_t, fn_t, 0, 'f1'):.3f}" if truth.any()
                          else "no positive face: recall and F1 undefined"), fontsize=8)
        left.set(ylim=(0, 1.02), ylabel=_name(attr), xlabel="threshold")
        right.set(xlabel="predicted probability", yscale="log")
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].legend(fontsize=7)
    fig.suptitle(_title("Threshold against precision, recall and F1 (grey: 0.5, red: tuned on val)", source))
    return fig


def mistake_grid(images, table: pd.DataFrame, ncols: int = 6, source: str = "",
                 title: str = "The most confident mistakes") -> Figure:
    """The faces of ``analysis.confident_mistakes``: one panel per row of ``table`` (face
    ``images[row]``), titled with the attribute, the true and predicted label and p, the
    predicted probability of the attribute, and the person when ``images`` knows it (several
    of the surest mistakes are often one person's photos). ``images``: a
    ``data.loaders.ImageCache`` or uint8 (N, C, H, W). Used in notebooks 03-07."""
    x = images.x if hasattr(images, "x") else images
    rows = table["row"].to_numpy(dtype=np.int64, copy=True)
    people = np.asarray(getattr(images, "identity", np.full(len(x), -1)))[rows]
    faces = _faces(x[rows])
    fig, axes = _panels(max(len(faces), 1), min(ncols, max(len(faces), 1)), 1.8, 2.3, images=True)
    for ax, face, r, person in zip(axes, faces, table.itertuples(), people):
        ax.imshow(face, cmap="gray" if face.ndim == 2 else None)
        who = f"\nperson {person}" if person >= 0 else ""
        ax.set_title(f"{_name(r.attr)}\ntrue {r.true}, said {r.predicted}\np = {r.prob:.2f}{who}", fontsize=7,
                     color="tab:red")
    if not len(faces):
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle(_title(title, source))
    return fig


def confusion_bars(counts: pd.DataFrame, source: str = "", title: str = "TP, FN, FP and TN per attribute") -> Figure:
    """The share of faces in each cell of the confusion matrix per attribute (``analysis.confusion_counts``),
    one stacked bar per attribute, sorted by the share of errors (FP + FN). Used in notebooks 03, 07."""
    cells = ["TP", "FN", "FP", "TN"]
    share = counts[cells].div(counts[cells].sum(axis=1), axis=0)
    share = share.loc[(share.FP + share.FN).sort_values().index]
    fig = _figure(7, 0.22 * len(share) + 1.5)
    ax = fig.subplots()
    left = np.zeros(len(share))
    for cell, color in zip(cells, ("tab:green", "tab:orange", "tab:red", "0.8")):
        ax.barh(np.arange(len(share)), share[cell], left=left, color=color, label=cell)
        left += share[cell].to_numpy()
    ax.set_yticks(np.arange(len(share)), [_name(a) for a in share.index], fontsize=7)
    ax.set(xlim=(0, 1), ylim=(-0.6, len(share) - 0.4), xlabel="share of faces", title=_title(title, source))
    ax.legend(loc="lower right", fontsize=8, ncols=4)
    return fig


def cam_grid(images, maps: np.ndarray, attrs: Sequence[str], probs: np.ndarray | None = None,
             source: str = "", alpha: float = 0.5) -> Figure:
    """Class-activation maps over the faces: one row per face, its image then one panel per
    attribute (``maps``: (B, K, H, W) from ``analysis.attribute_cam``), all on one colour scale
    [0, 1] with a colour bar; ``probs`` (B, K) puts the predicted probability in each title.

    Grad-CAM scales each map to its own maximum, so the map of an attribute the model calls
    absent looks as hot as one it is sure of: with ``probs``, a map with p < 0.5 is drawn
    faint (a third of ``alpha``) under a grey title. Used in notebooks 03, 07."""
    faces = _faces(images)
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 4 or maps.shape[:2] != (len(faces), len(attrs)):
        raise ValueError(f"maps must be (B={len(faces)}, K={len(attrs)}, H, W), got shape {maps.shape}")
    ncols = len(attrs) + 1
    fig, axes = _panels(len(faces) * ncols, ncols, 2.0, 2.2, images=True)
    axes = axes.reshape(len(faces), ncols)
    for b, face in enumerate(faces):
        height, width = face.shape[:2]
        axes[b, 0].imshow(face, cmap="gray" if face.ndim == 2 else None)
        axes[b, 0].set_title("input", fontsize=8)
        for k, attr in enumerate(attrs):
            ax = axes[b, k + 1]
            absent = probs is not None and probs[b, k] < 0.5
            ax.imshow(face, cmap="gray" if face.ndim == 2 else None)
            ax.imshow(maps[b, k], cmap="jet", alpha=alpha / 3 if absent else alpha, vmin=0, vmax=1,
                      extent=(-0.5, width - 0.5, height - 0.5, -0.5))
            ax.set_title(_name(attr) + (f" p={probs[b, k]:.2f}" if probs is not None else ""), fontsize=8,
                         color="0.55" if absent else "black")
    bar = plt.cm.ScalarMappable(plt.Normalize(0, 1), "jet")
    fig.colorbar(bar, ax=axes[:, 1:].ravel().tolist(), shrink=0.6, alpha=alpha, label="Grad-CAM (per map, 0-1)")
    faint = " (faint: predicted absent, p < 0.5)" if probs is not None and (np.asarray(probs) < 0.5).any() else ""
    fig.suptitle(_title("Where the model looks for each attribute (Grad-CAM)" + faint, source))
    return fig


def interval_plot(table: pd.DataFrame, reference: float | None = None, xlabel: str = "mean accuracy",
                  source: str = "", title: str = "Mean accuracy with its 95 % interval") -> Figure:
    """One point per row of ``table`` (columns mean, low, high: ``metrics.accuracy_ci`` or
    ``paired_difference_ci`` rows, indexed by name) with its interval as a bar, and a vertical
    line at ``reference`` (e.g. 0 for differences, the majority baseline for accuracies).
    Used in notebook 07."""
    missing = [c for c in ("mean", "low", "high") if c not in table.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the table; it has {list(table.columns)}")
    fig = _figure(6.5, 0.45 * len(table) + 1.4)
    ax = fig.subplots()
    y = np.arange(len(table))[::-1]
    # a percentile interval over a few people need not hold its own mean (a bootstrap of 2 identities can
    # give [0.0087, 0.0087] around 0.0088): such a side is drawn with no length, not refused by errorbar
    xerr = np.clip([table["mean"] - table["low"], table["high"] - table["mean"]], 0, None)
    ax.errorbar(table["mean"], y, xerr=xerr, fmt="o", color="tab:blue", capsize=4)
    if reference is not None:
        ax.axvline(reference, color="tab:red", ls="--", lw=1)
    ax.set_yticks(y, [str(i) for i in table.index], fontsize=8)
    ax.set(xlabel=xlabel, ylim=(-0.6, len(table) - 0.4), title=_title(title, source))
    ax.grid(axis="x", alpha=0.3)
    return fig


def val_test_scatter(table: pd.DataFrame, tests: dict[str, str] | None = None, group: str = "run",
                     chosen: pd.DataFrame | None = None, source: str = "",
                     title: str = "What validation sees against what the test faces say") -> Figure:
    """One panel per test set: a point per row of ``table`` with its val accuracy (column ``val_accuracy``)
    across and its accuracy on that test set up, the 95 % interval as a bar, coloured by the column ``group``.
    ``tests`` maps each test set's column (with ``<column>_low`` and ``<column>_high`` beside it) to its axis
    label (default: ``{"a": "test mean accuracy"}``). Rows of ``chosen`` (e.g. the row with the highest val
    accuracy) are ringed: what choosing on validation keeps. Accuracies as fractions, drawn in %. Rows
    without a val accuracy are left out. Used in notebook 03."""
    tests = tests or {"a": "test mean accuracy"}
    cols = ["val_accuracy", group, *[f"{t}{end}" for t in tests for end in ("", "_low", "_high")]]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the table; it has {list(table.columns)}")
    points = table.dropna(subset=["val_accuracy"])
    if points.empty:
        raise ValueError("no row of the table has a val accuracy to draw")
    fig, axes = _panels(len(tests), len(tests), 4.6, 4.2)
    colors = dict(zip(points[group].unique(), sns.color_palette("tab10", 10) * 10))
    for ax, (test, label) in zip(axes, tests.items()):
        for name, rows in points.dropna(subset=[test]).groupby(group, sort=False):
            x, y = 100 * rows["val_accuracy"], 100 * rows[test]
            ax.errorbar(x, y, yerr=[y - 100 * rows[f"{test}_low"], 100 * rows[f"{test}_high"] - y], fmt="o",
                        color=colors[name], elinewidth=1, alpha=0.75, capsize=2, label=f"{name} ({len(rows)})")
        if chosen is not None:
            keep = chosen.dropna(subset=["val_accuracy", test])
            ax.scatter(100 * keep["val_accuracy"], 100 * keep[test], s=180, facecolors="none",
                       edgecolors="black", linewidths=1.5, label="chosen on val", zorder=3)
        ax.set(xlabel="val accuracy (%)", ylabel=f"{label} (%)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside right upper")
    fig.suptitle(_title(title, source))
    return fig


def interactive_available() -> bool:
    """True in a live Jupyter kernel with ipywidgets; False under pytest/nbmake
    (PYTEST_CURRENT_TEST is inherited by its kernels), in scripts, or with FACEATTR_STATIC=1."""
    if os.environ.get("PYTEST_CURRENT_TEST") or os.environ.get("FACEATTR_STATIC"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def threshold_explorer(y: np.ndarray, probs: np.ndarray, attrs: Sequence[str] | None = None,
                       thresholds: np.ndarray | None = None, source: str = "", interactive: bool | None = None):
    """An attribute menu and a threshold slider over ``threshold_curves`` (ipywidgets), or,
    where widgets cannot run (``interactive_available``), the static figure for the four
    attributes whose tuned threshold lies farthest from 0.5 (among those with a positive
    face in ``y``: without one there is no recall or F1 to draw).

    Live, it displays that static figure first and returns the widgets below it: a saved
    notebook, or its HTML or GitHub view, keeps the figure where it keeps only the text
    "VBox(...)" of the widgets. Used in notebook 07."""
    probs = np.asarray(probs, dtype=np.float64)
    names = list(attrs or ATTRIBUTES)
    tuned = np.full(len(names), 0.5) if thresholds is None else np.asarray(thresholds)
    order = np.argsort(-np.abs(tuned - 0.5), kind="stable")
    farthest = [names[i] for i in order if np.asarray(y)[:, i].any()][:4] or [names[i] for i in order[:4]]
    static = threshold_curves(y, probs, names, farthest, thresholds, source=source)
    if not (interactive_available() if interactive is None else interactive):
        return static
    import ipywidgets as widgets
    from IPython.display import display
    display(static)
    menu = widgets.Dropdown(options=names, description="attribute")
    slider = widgets.FloatSlider(value=0.5, min=0.01, max=0.99, step=0.01, description="threshold")
    out = widgets.Output()

    def draw(_=None):
        with out:
            out.clear_output(wait=True)
            display(threshold_curves(y, probs, names, [menu.value], thresholds, slider.value, source))

    menu.observe(draw, "value")
    slider.observe(draw, "value")
    draw()
    return widgets.VBox([widgets.HBox([menu, slider]), out])


def _matrix(table: pd.DataFrame, title: str, **heatmap_kw) -> Figure:
    """A labelled square heatmap sized for 40 x 40."""
    side = 0.2 * len(table) + 2.5
    fig = _figure(side + 1, side)
    ax = fig.subplots()
    labels = [_name(a) for a in table.index]
    sns.heatmap(table.to_numpy(), ax=ax, square=True, xticklabels=labels, yticklabels=labels,
                cbar_kws={"shrink": 0.6}, **heatmap_kw)
    ax.tick_params(labelsize=6)
    ax.set_title(title)
    return fig


def _rates(table_or_rates, attrs: list[str] | None) -> pd.Series:
    """Per-attribute positive rates from a label table/array (N, A) or rates (A,)."""
    if isinstance(table_or_rates, pd.Series):
        return table_or_rates.astype(np.float64)
    if isinstance(table_or_rates, pd.DataFrame):
        table = table_or_rates[list(attrs)] if attrs else table_or_rates[[a for a in ATTRIBUTES
                                                                          if a in table_or_rates]]
        return table.mean(axis=0)
    values = np.asarray(table_or_rates, dtype=np.float64)
    rates = values.mean(axis=0) if values.ndim == 2 else values
    names = attrs or (ATTRIBUTES if len(rates) == len(ATTRIBUTES) else [str(i) for i in range(len(rates))])
    if len(names) != len(rates):
        raise ValueError(f"{len(names)} attrs for {len(rates)} rates")
    return pd.Series(rates, index=names)


def _faces(images) -> list[np.ndarray]:
    """(H, W, 3) or (H, W) uint8 arrays from a (N, C, H, W) array/tensor or a list of PIL images / arrays."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    faces = []
    for img in images:
        img = np.asarray(img.convert("RGB") if isinstance(img, Image.Image) else img)
        if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
            img = img.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
        if img.dtype != np.uint8:
            img = np.clip(img * 255 if img.max() <= 1 else img, 0, 255).astype(np.uint8)
        faces.append(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img)
    return faces


def _label_rows(labels, attrs: list[str] | None, n: int) -> list[dict]:
    """One {attribute: 0/1} dict per face."""
    if isinstance(labels, pd.DataFrame):
        names = attrs or [a for a in ATTRIBUTES if a in labels.columns]
        table = labels[names]
    else:
        values = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
        names = attrs or (ATTRIBUTES if values.shape[1] == len(ATTRIBUTES) else None)
        if names is None or len(names) != values.shape[1]:
            raise ValueError(f"labels have {values.shape[1]} columns: pass attrs= with their names")
        table = pd.DataFrame(values, columns=names)
    if len(table) != n:
        raise ValueError(f"{n} images but {len(table)} label rows")
    return table.to_dict(orient="records")


def _name(attr) -> str:
    return display_name(attr) if attr in ATTRIBUTES else str(attr)


def _title(text: str, source: str) -> str:
    return f"{text} ({source})" if source else text


def _legend_below(fig: Figure, ax) -> None:
    """The legend of ``ax`` under the figure, outside every axes: on a tall bar chart a legend
    inside the axes covers some attribute's bars."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize=8)


def _figure(width: float, height: float) -> Figure:
    """A new figure already closed in pyplot: it renders once, when returned or displayed."""
    fig = plt.figure(figsize=(width, height), layout="constrained")
    plt.close(fig)
    return fig


def _panels(n: int, ncols: int, width: float, height: float, images: bool = False) -> tuple[Figure, np.ndarray]:
    """A figure of ``n`` panels in rows of ``ncols`` (each ``width`` x ``height`` inches), its axes
    flattened; unused axes hidden, and with ``images`` every axis frame hidden too."""
    nrows = -(-n // ncols)
    fig = _figure(width * ncols, height * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax in axes if images else axes[n:]:
        ax.axis("off")
    return fig, axes


def _grouped_barh(ax, table: pd.DataFrame, columns: Sequence[str], colors: Sequence[str] | None = None) -> np.ndarray:
    """One group of horizontal bars per row of ``table``, one bar per column; returns the groups' y."""
    y, height = np.arange(len(table)), 0.8 / len(columns)
    for i, column in enumerate(columns):
        ax.barh(y + (i - (len(columns) - 1) / 2) * height, table[column], height=height,
                label=column.replace("_", " "), color=colors[i] if colors else None)  # the legend in words
    return y


# ---------------------------------------------------------------- label balance across splits, feature maps

def rate_comparison(rates: pd.DataFrame, source: str = "", title: str | None = None) -> Figure:
    """Positive rate per attribute in several label sets (``rates``: attributes x sets, fractions,
    e.g. the train and test partitions), one dot per set, sorted by the first set (left); each
    other set's difference from the first in percentage points (right). The transfer report's
    class-balance check, train vs test. Used in notebook 01."""
    if rates.shape[1] < 2:
        raise ValueError(f"rates needs at least two columns (e.g. train and test), got {list(rates.columns)}")
    values = rates.astype(np.float64)
    if ((values < 0) | (values > 1)).to_numpy().any():
        raise ValueError("rates must be fractions in [0, 1] (a table's mean of 0/1 labels), not percentages")
    first, others = values.columns[0], values.columns[1:]
    table = values.sort_values(first)
    fig = _figure(9, 0.2 * len(table) + 1.4)
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    y = np.arange(len(table))
    for i, column in enumerate(table.columns):
        left.scatter(table[column] * 100, y, s=14, color=f"C{i}", label=str(column), zorder=3)
    offsets = np.linspace(-0.3, 0.3, len(others) + 2)[1:-1]
    for i, (column, offset) in enumerate(zip(others, offsets)):
        right.barh(y + offset, (table[column] - table[first]) * 100, height=0.6 / len(others), color=f"C{i + 1}")
    right.axvline(0, color="0.3", lw=0.8)
    left.set_yticks(y, [_name(a) for a in table.index], fontsize=7)
    left.set(xlabel="faces with the attribute (%)", xlim=(0, 100), ylim=(-0.6, len(table) - 0.4))
    left.grid(axis="x", alpha=0.3)
    left.legend(loc="lower right", fontsize=8)
    right.set(xlabel=f"{', '.join(map(str, others))} minus {first} (points)")
    fig.suptitle(_title(title or f"Positive rate per attribute: {' vs '.join(map(str, values.columns))}", source))
    return fig


def feature_maps(model, x, layers: Sequence[str] | dict[str, str], max_channels: int = 16,
                 source: str = "") -> Figure:
    """The activations of one input through ``model`` (the FaceNet report's Fig. 8): the input on
    the first row, then one row per layer with up to ``max_channels`` of its maps (a flat vector
    is drawn as one strip). ``x``: the normalised input (C, H, W) or (1, C, H, W); ``layers``:
    submodule names as ``model.named_modules()`` gives them (e.g. "trunk.0.2"), or a dict row
    label -> name. Read with forward hooks in eval mode, which are removed afterwards; the
    model's train/eval mode is restored. Used in notebook 02."""
    import torch

    names = dict(layers) if isinstance(layers, dict) else {name: name for name in layers}
    modules = dict(model.named_modules())
    unknown = [n for n in names.values() if n not in modules]
    if unknown:
        raise ValueError(f"layers {unknown} are not submodules of {type(model).__name__}; "
                         f"some that are: {[n for n in modules if n][:12]}")
    x = x.unsqueeze(0) if x.dim() == 3 else x
    if x.shape[0] != 1:
        raise ValueError(f"feature_maps draws one input; got a batch of {x.shape[0]}")
    found: dict[str, object] = {}
    hooks = [modules[name].register_forward_hook(  # clone: an in-place ReLU would change a kept output
        lambda _m, _inp, out, label=label: found.__setitem__(
            label, out.detach().float().cpu().clone() if isinstance(out, torch.Tensor) else out))
        for label, name in names.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x.to(next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    bad = {label: type(found.get(label)).__name__ for label in names if not isinstance(found.get(label), torch.Tensor)}
    if bad:
        raise ValueError(f"layers must output one tensor during the forward pass; got {bad} (NoneType: never called)")
    rows = [("input", x[0].float().cpu())] + [(label, found[label][0]) for label in names]
    ncols = max(min(len(a), max_channels) if a.dim() == 3 else 1 for _, a in rows)
    fig = _figure(1.0 * ncols + 0.4, 1.25 * len(rows))
    grid = fig.add_gridspec(len(rows), ncols)
    for r, (label, act) in enumerate(rows):  # one axis per row: its maps side by side, each on its own scale
        if act.dim() == 3:
            maps = act[:max_channels].numpy()
            ax = fig.add_subplot(grid[r, :len(maps)])
            ax.imshow(_tile(maps), cmap="gray" if label == "input" else "viridis", interpolation="nearest")
        else:  # a vector: one strip across the figure
            maps = act.reshape(1, -1).numpy()
            ax = fig.add_subplot(grid[r, :])
            ax.imshow(maps, cmap="viridis", aspect="auto", interpolation="nearest")
        ax.axis("off")
        more = f", first {len(maps)}" if act.dim() == 3 and len(maps) < len(act) else ""
        ax.set_title(f"{label} ({' x '.join(map(str, act.shape))}{more})", fontsize=7, loc="left")
    fig.suptitle(_title("Feature maps of one face through the network", source))
    return fig


def _tile(maps: np.ndarray, pad: int = 1) -> np.ndarray:
    """(C, h, w) maps -> one (h, C·(w + pad) − pad) image, each map scaled to [0, 1], NaN (blank) between."""
    c, h, w = maps.shape
    out = np.full((h, c * (w + pad) - pad), np.nan)
    for i, fmap in enumerate(maps):
        span = fmap.max() - fmap.min()
        out[:, i * (w + pad):i * (w + pad) + w] = (fmap - fmap.min()) / span if span > 0 else 0.0
    return out
