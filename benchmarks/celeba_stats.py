"""Compute the label statistics the synthetic generator ships (run once, needs the real annotations).

Reads CelebA's official ``list_attr_celeba.txt``, ``list_eval_partition.txt`` and
``identity_CelebA.txt``, keeps the training partition and writes
``faceattr_nb/data/celeba_stats.json``: statistics only, never a label row.

- ``rates``: positive rate of each of the 40 attributes on train.
- ``phi``: the real 40 x 40 phi (Pearson) correlation of the 0/1 labels.
- ``latent_corr``: the tetrachoric correlation R of a Gaussian copula: z ~ N(0, R),
  y_a = [z_a > Phi^-1(1 - rate_a)] reproduces every pairwise co-occurrence
  P(y_a = 1, y_b = 1) (nearest positive semi-definite matrix, unit diagonal).
- ``identity_corr``: the part C of R shared by all images of one person, fitted the same
  way on pairs of different images of the same identity: z = z_id + z_img with
  z_id ~ N(0, C) and z_img ~ N(0, R - C); its diagonal is how persistent an attribute is
  (Male = 1 by construction, Smiling ~ 0.4).
- ``latent_rates``: rates fed to the copula so that, after the generator's logical
  constraints (faceattr_nb.data.synthetic.apply_constraints), the labels hit ``rates``.

Usage: python benchmarks/celeba_stats.py [--annotations /work/shared/data/celeba_annotations]
"""
import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data import celeba, synthetic

OUT = Path(__file__).resolve().parent.parent / "faceattr_nb" / "data" / "celeba_stats.json"
GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(64)


def read_train(annotations: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, A) 0/1 labels and (N,) identities of CelebA's training partition."""
    train = celeba.split(celeba.read_annotations(annotations), "train")
    return train[ATTRIBUTES].to_numpy(np.float64), train["identity"].to_numpy()


def bivariate_upper(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """P(Z1 > h, Z2 > k) for standard normals with correlation rho (Plackett's identity)."""
    r = (GL_NODES[:, None] + 1) / 2 * rho[None]                       # (64, P) nodes in [0, rho]
    dens = np.exp(-(h**2 - 2 * r * h * k + k**2) / (2 * (1 - r**2))) / (2 * np.pi * np.sqrt(1 - r**2))
    return ndtr(-h) * ndtr(-k) + rho / 2 * (GL_WEIGHTS[:, None] * dens).sum(0)


def tetrachoric(joint: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """rho with P(z_a > t_a, z_b > t_b) = joint, t = Phi^-1(1 - p); vectorised bisection."""
    h, k = ndtri(1 - pa), ndtri(1 - pb)
    lo, hi = np.full(joint.shape, -0.999), np.full(joint.shape, 0.999)
    for _ in range(60):
        mid = (lo + hi) / 2
        above = bivariate_upper(h, k, mid) > joint
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    return (lo + hi) / 2


def tetrachoric_matrix(joint: np.ndarray, rates_a: np.ndarray, rates_b: np.ndarray) -> np.ndarray:
    """Tetrachoric correlation of every pair from a joint positive-rate matrix (A, A)."""
    ia, ib = np.meshgrid(np.arange(len(rates_a)), np.arange(len(rates_b)), indexing="ij")
    rho = tetrachoric(joint.ravel(), rates_a[ia.ravel()], rates_b[ib.ravel()])
    return rho.reshape(joint.shape)


def psd(m: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    """Clip the eigenvalues of a symmetric matrix at ``floor``."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.maximum(w, floor)) @ v.T


def nearest_correlation(m: np.ndarray, iters: int = 100) -> np.ndarray:
    """Higham's alternating projections: nearest PSD matrix with unit diagonal."""
    x, ds = m.copy(), np.zeros_like(m)
    for _ in range(iters):
        r = x - ds
        p = psd(r)
        ds = p - r
        x = p.copy()
        np.fill_diagonal(x, 1.0)
    return x


def split_identity(r: np.ndarray, c: np.ndarray, persistent: list, iters: int = 300) -> np.ndarray:
    """Make C PSD with R - C PSD (alternating projections), keeping C close to the fit.

    ``persistent`` attributes belong to the person, not the photo (a person's
    sex does not change between pictures): their rows of C are those of R.
    """
    c, fixed = np.clip(c, -1, 1), [ATTRIBUTES.index(a) for a in persistent]
    for _ in range(iters):
        c = psd(c, 0.0)
        c[fixed], c[:, fixed] = r[fixed], r[:, fixed]
        c = r - psd(r - c, 0.0)
    return c


def to_json(stats: dict) -> str:
    """JSON with one matrix row per line (readable diffs, a few tens of KB)."""
    def value(v):
        if isinstance(v, list) and v and isinstance(v[0], list):
            return "[\n" + ",\n".join("  " + json.dumps(row, separators=(",", ":")) for row in v) + "]"
        return json.dumps(v)
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {value(v)}" for k, v in stats.items()) + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=Path, default=Path("/work/shared/data/celeba_annotations"))
    args = parser.parse_args()
    y, ident = read_train(args.annotations)
    n = len(y)
    rates = y.mean(0)
    phi = np.corrcoef(y.T)
    r = nearest_correlation(tetrachoric_matrix(y.T @ y / n, rates, rates))

    # Pairs (i != j) of images of the same identity: sum_k S_k S_k^T - Y^T Y.
    _, inv = np.unique(ident, return_inverse=True)
    s = np.zeros((inv.max() + 1, y.shape[1]))
    np.add.at(s, inv, y)
    counts = np.bincount(inv).astype(np.float64)
    pairs = (counts * (counts - 1)).sum()
    joint_pairs = (s.T @ s - y.T @ y) / pairs
    pair_rates = ((counts - 1)[:, None] * s).sum(0) / pairs
    c = tetrachoric_matrix(joint_pairs, pair_rates, pair_rates)
    c = split_identity(r, (c + c.T) / 2, persistent=["Male"])

    stats = {
        "source": "CelebA list_attr_celeba.txt, training partition (list_eval_partition.txt == 0), "
                  "identities from identity_CelebA.txt; written by benchmarks/celeba_stats.py",
        "n_images": int(n), "attributes": ATTRIBUTES,
        "rates": [round(float(v), 4) for v in rates],
        "phi": [[round(float(v), 3) for v in row] for row in phi],
        "latent_corr": [[round(float(v), 4) for v in row] for row in r],
        "identity_corr": [[round(float(v), 4) for v in row] for row in c],
    }
    stats["latent_rates"] = [round(float(v), 5) for v in synthetic.calibrate_latent_rates(stats)]
    OUT.write_text(to_json(stats))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.1f} KiB) from {n} training images")
    print("identity share of latent variance (persistence):")
    print(pd.Series(np.diag(c), index=ATTRIBUTES).round(2).sort_values().to_string())


if __name__ == "__main__":
    main()
