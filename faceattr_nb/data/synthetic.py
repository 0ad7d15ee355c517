"""A generated CelebA: drawn faces whose 40 attributes sit where they live on a face.

The course runs without downloading CelebA: ``generate(root, n_images)`` writes
``root/img_align_celeba/000001.jpg ...`` (178 x 218, face centred, eyes near
y = 111, like the aligned CelebA) and the five annotation files in the official
text layout (attributes, partitions, identities, aligned landmarks, boxes), so
the reader of real CelebA (and torchvision's ``CelebA``) reads it unchanged.

Labels. ``sample_labels`` draws them from a Gaussian copula fitted to CelebA's
training labels (``celeba_stats.json``, written by ``benchmarks/celeba_stats.py``;
statistics only, no label rows): a latent z = z_id + z_img with
z_id ~ N(0, C) shared by every image of a person and z_img ~ N(0, R - C), so
Cov(z) = R, the tetrachoric correlation that reproduces every pairwise
co-occurrence of the real labels, and diag(C) is how persistent an attribute
is for one person (Male ~ 1, Smiling ~ 0). y_a = [z_a > t_a]; then logical
constraints where real faces have them (``apply_constraints``: a bald head has
no bangs, a goatee is not "No_Beard" ...); then ``label_noise``: a fraction of
each attribute's minority labels, and as many majority labels, disagree with
the drawing, so the positive rates hold and 100 % accuracy is out of reach.

Images. Every attribute has a cue in its GAL Table 1 region
(``faceattr_nb.attributes.GROUPS``): hair colour / style / bangs / baldness /
receding hairline / hat on top; glasses, brows, narrow eyes, bags at the
eyes; big / pointy nose; beard, goatee, mustache, 5 o'clock shadow, lips,
lipstick, smile, open mouth at the mouth and chin; rosy cheeks, cheekbones,
sideburns, earrings at the cheeks and ears; necklace, necktie at the neck;
Blurry = Gaussian blur; Pale_Skin, Chubby, Double_Chin, Oval_Face from skin
and face shape; Heavy_Makeup = eye shadow + eyeliner + blush; Male = jaw,
brows, hair length; Young = no wrinkles; Attractive = symmetric, clean skin.
Pose (rotation, shift, scale), lighting and background vary per image;
skin tone, face shape, hair and eye colour, nose and mouth size per person.

Domains. ``domain="a"`` (the default) is the aligned crop above. ``domain="b"``
is a second, shifted domain for cross-dataset lessons (BLAN Table 9's train on
one dataset, test on the other): the same label model and drawing, but a
looser, unaligned crop -- the face drawn at 0.62-0.82 of the base size (domain
a: 0.92-1.08), its eyes 14 px lower on average and spread 3x wider (sd 8 px
against 2.5, in 178 x 218 base pixels), the head turned
with sd 12 degrees (up to 25) instead of 4 (up to 10) -- from another seed
(``domain_seed``), so its people are others. The label statistics are those of
domain a; the crop and pose are what differ (``POSES``).

It is a teaching stand-in that makes location attention (PSE) and label
correlation (GAL) visible, never CelebA. Used in every notebook (through
``config.resolve`` when no real CelebA is found).
"""
import colorsys
import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from scipy.special import ndtri
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data.celeba import BBOX, EXPECTED_FILES, LANDMARKS

STATS_PATH = Path(__file__).with_name("celeba_stats.json")
GENERATOR_VERSION = 1
BASE_SIZE = (178, 218)        # (W, H) of aligned CelebA
BASE_EYES = (89.0, 111.0)     # midpoint of the eyes in the base image
PAD = 24                      # background textures are this much larger than the image (random crops)
JPEG_QUALITY = 90
ANNOTATION_FILES = tuple(official for official, _, _ in EXPECTED_FILES.values())  # the official layout's five
LANDMARK_NAMES = " ".join(LANDMARKS)
_IX = {a: i for i, a in enumerate(ATTRIBUTES)}
_T9 = np.linspace(0, 1, 9)                                        # points along strands and arcs
_HALF = np.linspace(math.pi, 2 * math.pi, 13)                     # angles of a half ellipse
# Crop and pose per domain: eye-centre shift sd and mean offset (base px), rotation sd and limit (degrees),
# face scale range. "a": the aligned crop; "b": a looser, unaligned crop of the same kind of face.
POSES: dict[str, dict] = {
    "a": dict(shift_sd=2.5, offset=(0.0, 0.0), angle_sd=4.0, angle_max=10.0, scale=(0.92, 1.08)),
    "b": dict(shift_sd=8.0, offset=(0.0, 14.0), angle_sd=12.0, angle_max=25.0, scale=(0.62, 0.82)),
}
DOMAIN_SEED_OFFSET = {"a": 0, "b": 1_000_003}  # domain b's people and faces come from another seed


# ----------------------------------------------------------------------------- labels

@functools.lru_cache(maxsize=1)
def load_stats() -> dict:
    """CelebA training statistics: rates, phi, latent_corr R, identity_corr C, latent_rates (arrays)."""
    if not STATS_PATH.exists():
        raise FileNotFoundError(f"{STATS_PATH} is missing: it ships with the package; recreate it with "
                                "`python benchmarks/celeba_stats.py --annotations <folder with list_attr_celeba.txt>`")
    raw = json.loads(STATS_PATH.read_text())
    stats = {k: np.asarray(v, dtype=np.float64) if isinstance(v, list) and k != "attributes" else v
             for k, v in raw.items()}
    if raw["attributes"] != ATTRIBUTES:
        raise ValueError(f"{STATS_PATH} lists attributes in another order than faceattr_nb.attributes.ATTRIBUTES; "
                         "rerun benchmarks/celeba_stats.py")
    return stats


@dataclass(frozen=True)
class LabelSample:
    """Sampled labels. labels: uint8 (N, A) as written (noise included); drawn: uint8 (N, A)
    what the images show; identity: int64 (N,) person index 0..n_ids-1 (images_per_identity each)."""
    labels: np.ndarray
    drawn: np.ndarray
    identity: np.ndarray


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """L with L @ L.T = m for a symmetric PSD m (eigenvalues clipped at 0)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return v * np.sqrt(np.clip(w, 0, None))


def _latent(n: int, images_per_identity: int, rng: np.random.Generator, stats: dict,
            latent_rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latent margins z - t (N, A) (positive = attribute present) and identity (N,)."""
    r, c = stats["latent_corr"], stats["identity_corr"]
    identity = np.arange(n) // images_per_identity                                  # (N,)
    n_ids = int(identity[-1]) + 1 if n else 0
    with threadpool_limits(1):                     # tiny matmuls: threads only contend on a busy box
        z_id = rng.standard_normal((n_ids, len(ATTRIBUTES))) @ _sqrt_psd(c).T      # (n_ids, A)
        z_img = rng.standard_normal((n, len(ATTRIBUTES))) @ _sqrt_psd(r - c).T     # (N, A)
    return z_id[identity] + z_img - _threshold(latent_rates), identity


def _threshold(latent_rates: np.ndarray) -> np.ndarray:
    """t (A,): a standard normal exceeds it with probability ``latent_rates``."""
    return ndtri(1 - np.clip(latent_rates, 1e-6, 1 - 1e-6))


def apply_constraints(y: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Logical constraints real faces have (each holds for >= 97 % of CelebA's training images).

    y: (N, A) 0/1 labels, changed in place and returned; margin: (N, A) latent
    margins, used to pick the stronger of two exclusive attributes.
    """
    a = _IX
    y = y.astype(np.uint8, copy=False)
    male = y[:, a["Male"]] == 1
    # Women: no beard of any kind, no baldness, no necktie; men: no make-up or lipstick.
    for name in ("5_o_Clock_Shadow", "Goatee", "Mustache", "Sideburns", "Bald", "Wearing_Necktie"):
        y[~male, a[name]] = 0
    y[~male, a["No_Beard"]] = 1
    for name in ("Heavy_Makeup", "Wearing_Lipstick"):
        y[male, a[name]] = 0
    # One base hair colour (Black, Blond, Brown): keep the strongest; Gray never with Black.
    base = [a["Black_Hair"], a["Blond_Hair"], a["Brown_Hair"]]
    strongest = np.asarray(base)[np.argmax(margin[:, base], axis=1)]
    several = y[:, base].sum(1) > 1
    y[np.ix_(several, base)] = 0
    y[several, strongest[several]] = 1
    both = (y[:, a["Gray_Hair"]] == 1) & (y[:, a["Black_Hair"]] == 1)
    gray_wins = margin[:, a["Gray_Hair"]] > margin[:, a["Black_Hair"]]
    y[both & gray_wins, a["Black_Hair"]] = 0
    y[both & ~gray_wins, a["Gray_Hair"]] = 0
    # Straight or wavy, not both.
    both = (y[:, a["Straight_Hair"]] == 1) & (y[:, a["Wavy_Hair"]] == 1)
    wavy_wins = margin[:, a["Wavy_Hair"]] > margin[:, a["Straight_Hair"]]
    y[both & wavy_wins, a["Straight_Hair"]] = 0
    y[both & ~wavy_wins, a["Wavy_Hair"]] = 0
    # A bald head has no bangs, no coloured or styled hair on top and no hat over it.
    bald = y[:, a["Bald"]] == 1
    for name in ("Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Straight_Hair", "Wavy_Hair", "Wearing_Hat"):
        y[bald, a[name]] = 0
    # A goatee, mustache or sideburns is a beard: not "No_Beard".
    for name in ("Goatee", "Mustache", "Sideburns"):
        y[y[:, a[name]] == 1, a["No_Beard"]] = 0
    return y


def _add_noise(drawn: np.ndarray, rates: np.ndarray, label_noise: float, rng: np.random.Generator) -> np.ndarray:
    """Flip a fraction ``label_noise`` of each attribute's minority labels and as many majority ones."""
    minority = np.minimum(rates, 1 - rates)                                          # (A,)
    p_minority = np.full_like(rates, label_noise)
    p_majority = label_noise * minority / (1 - minority)
    pos_is_minority = rates < 0.5
    p_flip_pos = np.where(pos_is_minority, p_minority, p_majority)                   # P(1 -> 0)
    p_flip_neg = np.where(pos_is_minority, p_majority, p_minority)                   # P(0 -> 1)
    u = rng.random(drawn.shape)
    flip = np.where(drawn == 1, u < p_flip_pos, u < p_flip_neg)
    return (drawn ^ flip).astype(np.uint8)


def sample_labels(n: int, seed: int = 0, images_per_identity: int = 20, label_noise: float = 0.02) -> LabelSample:
    """Draw ``n`` label rows (images_per_identity per person) with CelebA's rates and correlations.

    The generator uses exactly this function, so label statistics can be
    checked on many rows without drawing an image. Used in notebook 01.
    """
    if images_per_identity < 1 or not 0 <= label_noise < 0.5:
        raise ValueError(f"need images_per_identity >= 1 and 0 <= label_noise < 0.5, "
                         f"got {images_per_identity} and {label_noise}")
    stats = load_stats()
    rng = np.random.default_rng([seed, 0])
    latent_rates = stats.get("latent_rates", stats["rates"])
    margin, identity = _latent(n, images_per_identity, rng, stats, latent_rates)
    drawn = apply_constraints((margin > 0).astype(np.uint8), margin)
    labels = _add_noise(drawn, stats["rates"], label_noise, rng)
    return LabelSample(labels=labels, drawn=drawn, identity=identity)


def calibrate_latent_rates(stats: dict, n: int = 400_000, iters: int = 15, seed: int = 1234) -> np.ndarray:
    """Copula rates such that the rates after ``apply_constraints`` match ``stats['rates']``.

    Fixed-point iteration on common random numbers (drawn once); run by benchmarks/celeba_stats.py.
    """
    stats = {k: np.asarray(v, dtype=np.float64) if k != "attributes" else v for k, v in stats.items()
             if k in ("latent_corr", "identity_corr", "rates", "attributes")}
    target = stats["rates"]
    latent_rates = target.copy()
    z, _ = _latent(n, 20, np.random.default_rng(seed), stats, np.full_like(target, 0.5))  # t = 0: the draws alone
    for _ in range(iters):
        margin = z - _threshold(latent_rates)
        achieved = apply_constraints((margin > 0).astype(np.uint8), margin).mean(0)
        latent_rates = np.clip(latent_rates + (target - achieved), 1e-4, 1 - 1e-4)
    return latent_rates


# ----------------------------------------------------------------------------- drawing

HAIR_COLOURS = {"Black_Hair": (28, 22, 22), "Blond_Hair": (214, 178, 104), "Brown_Hair": (104, 64, 36),
                "Gray_Hair": (178, 178, 184)}
OTHER_HAIR = ((150, 66, 36), (128, 100, 78))          # auburn, ash: hair with none of the four labels
EYE_COLOURS = ((72, 46, 30), (96, 62, 36), (64, 96, 136), (72, 104, 72), (40, 30, 26))
LIPSTICKS = ((198, 28, 52), (176, 22, 74), (222, 64, 96), (150, 30, 44))
EYESHADOWS = ((120, 70, 140), (110, 80, 60), (60, 90, 150), (150, 90, 110))
METALS = ((222, 184, 60), (210, 210, 222))            # gold, silver
PALE = (250, 232, 226)


def _mix(c1: tuple, c2: tuple, t: float) -> tuple:
    """Colour c1 moved a fraction t towards c2."""
    return tuple(int(a + (b - a) * t) for a, b in zip(c1, c2))


def _rgba(c: tuple, alpha: int) -> tuple:
    return (*c[:3], alpha)


def _jitter(rng: np.random.Generator, c: tuple, amount: float) -> tuple:
    return tuple(int(np.clip(v + amount * rng.standard_normal(), 0, 255)) for v in c)


def colorsys_rgb(h: float, s: float, v: float) -> tuple:
    """HSV in [0, 1] to an RGB tuple in 0..255."""
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))


def _jitter_fixed(c: tuple, offset: np.ndarray) -> tuple:
    return tuple(int(np.clip(v + o, 0, 255)) for v, o in zip(c, offset))


def identity_traits(rng: np.random.Generator) -> dict:
    """What stays the same over one person's images: skin, hair and eye colour, face and feature sizes."""
    dark = rng.beta(1.6, 4.0)
    skin = _mix((242, 208, 184), (104, 68, 48), dark)
    return {
        "skin": _jitter(rng, skin, 6), "eye": EYE_COLOURS[rng.integers(len(EYE_COLOURS))],
        "hair_jitter": rng.normal(0, 8, 3), "other_hair": OTHER_HAIR[rng.integers(len(OTHER_HAIR))],
        "face_w": rng.normal(0, 1.5), "face_len": rng.normal(0, 2.0), "eye_gap": rng.normal(0, 1.0),
        "nose_w": rng.normal(0, 0.6), "mouth_w": rng.normal(0, 1.2), "brow_w": rng.normal(0, 0.4),
        "hair_len": rng.uniform(55, 95), "hair_volume": rng.uniform(4, 10), "part": rng.choice((-1, 1)),
        "frame": ((20, 20, 20), (70, 40, 25), (40, 40, 90), (110, 20, 30))[rng.integers(4)],
        "sunglasses": rng.random() < 0.15, "metal": METALS[rng.integers(2)],
    }


class _Pen:
    """Draws in face units: (0, 0) is the midpoint of the eyes, 1 unit = 1 base pixel times ``s``,
    the whole face turned by ``angle`` degrees (counter-clockwise on screen) about that point.
    Ellipses and arcs are polygons and polylines, so they turn with the face."""

    _COS, _SIN = np.cos(np.linspace(0, 2 * np.pi, 17)[:-1]), np.sin(np.linspace(0, 2 * np.pi, 17)[:-1])

    def __init__(self, image: Image.Image, ax: float, ay: float, s: float, angle: float):
        self.draw = ImageDraw.Draw(image, "RGBA")
        th = math.radians(angle)
        self.ax, self.ay, self.s = ax, ay, s
        self.m = np.array([[math.cos(th), math.sin(th)], [-math.sin(th), math.cos(th)]]) * s   # face -> pixels

    def pts(self, xy) -> list:
        """Face units -> pixel coordinates, as a list of (x, y) tuples."""
        m, ax, ay = self.m, self.ax, self.ay
        return [(ax + m[0, 0] * x + m[0, 1] * y, ay + m[1, 0] * x + m[1, 1] * y) for x, y in xy]

    def _flat(self, xs: np.ndarray, ys: np.ndarray) -> list:
        m = self.m
        out = np.empty((len(xs), 2))
        out[:, 0] = self.ax + m[0, 0] * xs + m[0, 1] * ys
        out[:, 1] = self.ay + m[1, 0] * xs + m[1, 1] * ys
        return out.ravel().tolist()

    def width(self, w: float) -> int:
        return max(1, round(w * self.s))

    def ellipse(self, x, y, rx, ry, fill):
        self.draw.polygon(self._flat(x + rx * self._COS, y + ry * self._SIN), fill=fill)

    def both(self, x, y, rx, ry, fill):
        """The same ellipse on both sides of the face."""
        self.ellipse(-x, y, rx, ry, fill)
        self.ellipse(x, y, rx, ry, fill)

    def polygon(self, xy, fill, mirror=False):
        self.draw.polygon(self.pts(xy), fill=fill)
        if mirror:
            self.draw.polygon(self.pts([(-x, y) for x, y in xy]), fill=fill)

    def line(self, xy, fill, width=1.0, mirror=False):
        w = self.width(width)
        joint = "curve" if w > 2 and len(xy) > 2 else None                               # round joints cost
        self.draw.line(self.pts(xy), fill=fill, width=w, joint=joint)
        if mirror:
            self.draw.line(self.pts([(-x, y) for x, y in xy]), fill=fill, width=w, joint=joint)

    def arc(self, x, y, rx, ry, start, end, fill, width=1.0, mirror=False):
        """Part of an ellipse from ``start`` to ``end`` degrees (clockwise on screen from 3 o'clock, as PIL)."""
        th = np.radians(start + (end - start) * _T9)
        w = self.width(width)
        for sign in ((1, -1) if mirror else (1,)):
            xy = self._flat(sign * (x + rx * np.cos(th)), y + ry * np.sin(th))
            self.draw.line(xy, fill=fill, width=w, joint="curve" if w > 2 else None)


@dataclass
class _Face:
    """Geometry and colours of one drawn face (face units, see _Pen)."""
    a: dict              # attribute -> bool, what is drawn
    hw: float            # half width of the face at the cheeks
    jw: float            # half width at the jaw
    cw: float            # half width of the chin
    chin: float          # y of the chin
    top: float           # y of the top of the head
    eye_x: float         # x of each eye
    mw: float            # half width of the mouth
    mouth_y: float       # y of the mouth corners
    skin: tuple
    hair: tuple          # base hair colour
    crown: tuple         # hair colour on top (gray on top for Gray_Hair)
    brow: tuple
    t: dict              # identity traits


def _face_geometry(a: dict, t: dict) -> _Face:
    male, chubby, oval = a["Male"], a["Chubby"], a["Oval_Face"]
    hw = (43.0 if male else 40.0) + t["face_w"] + (6 if chubby else 0) - (2 if oval and not chubby else 0)
    jw = hw * (0.64 if oval else 0.88 if male else 0.76) + (3 if chubby else 0)
    cw = (6 if oval else 13 if male else 9) + (4 if chubby else 0)
    chin = (66 if male else 62) + (5 if oval else 0) + t["face_len"]
    skin = _mix(t["skin"], PALE, 0.75) if a["Pale_Skin"] else t["skin"]
    colours = [HAIR_COLOURS[h] for h in ("Black_Hair", "Blond_Hair", "Brown_Hair") if a[h]]
    hair = _jitter_fixed(colours[0] if colours else t["other_hair"], t["hair_jitter"])
    gray = _jitter_fixed(HAIR_COLOURS["Gray_Hair"], t["hair_jitter"] / 2)
    if a["Gray_Hair"]:
        hair, crown = (_mix(hair, gray, 0.45) if colours else gray), gray
    else:
        crown = hair
    brow = _mix(hair, (20, 15, 15), 0.5 if a["Blond_Hair"] or a["Gray_Hair"] else 0.3)
    mw = 15 + t["mouth_w"] + (4 if a["Smiling"] else 0)
    return _Face(a=a, hw=hw, jw=jw, cw=cw, chin=chin, top=-58 - (3 if oval else 0), eye_x=19 + t["eye_gap"],
                 mw=mw, mouth_y=41 + t["face_len"] / 3 - (4 if a["Smiling"] else 0), skin=skin, hair=hair,
                 crown=crown, brow=brow, t=t)


def _face_outline(f: _Face) -> list:
    """Polygon of the face: a half ellipse over the forehead, cheeks, jaw and chin."""
    pts = [(f.hw * math.cos(th), 6 + (6 - f.top) * math.sin(th)) for th in _HALF]
    cheek = f.hw + (2.5 if f.a["Chubby"] else 0)
    right = [(cheek, 22), (f.jw, f.chin - 20), ((f.jw + f.cw) / 2 + 2, f.chin - 7), (f.cw, f.chin)]
    return pts + right + [(-x, y) for x, y in reversed(right)]


def _draw_body(pen: _Pen, f: _Face, rng: np.random.Generator) -> None:
    """Shoulders, clothes, neck; necklace and necktie (Neck group)."""
    cloth = colorsys_rgb(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.85))
    pen.polygon([(-110, 140), (-100, 96), (-70, 80), (-22, 74), (22, 74), (70, 80), (100, 96), (110, 140)], cloth)
    nw = (18 if f.a["Male"] else 14) + (4 if f.a["Chubby"] else 0)
    neck_shade = _mix(f.skin, (0, 0, 0), 0.18)
    pen.polygon([(-nw, f.chin - 20), (nw, f.chin - 20), (nw + 2, 78), (-nw - 2, 78)], neck_shade)
    if f.a["Wearing_Necktie"]:
        pen.polygon([(-24, 74), (24, 74), (0, 128)], (236, 236, 236))                      # shirt
        pen.polygon([(-nw - 4, 72), (-2, 82), (-12, 92)], (250, 250, 250), mirror=True)    # collar
        tie = colorsys_rgb(rng.random(), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7))
        pen.polygon([(-4, 80), (4, 80), (3, 88), (-3, 88)], tie)
        pen.polygon([(-3, 88), (3, 88), (8, 122), (0, 130), (-8, 122)], tie)
    else:
        pen.polygon([(-nw - 6, 74), (nw + 6, 74), (0, 90 if not f.a["Male"] else 82)], neck_shade)
    if f.a["Wearing_Necklace"]:
        metal = f.t["metal"]
        pen.line([(-nw - 1, 70), (-nw * 0.5, 80), (0, 83), (nw * 0.5, 80), (nw + 1, 70)], metal, 2)
        pen.ellipse(0, 86, 3, 3.5, metal)


def _draw_back_hair(pen: _Pen, f: _Face) -> None:
    """Long hair behind the head and shoulders (women; Hair group)."""
    if f.a["Male"] or f.a["Bald"]:
        return
    hw, vol, length = f.hw, f.t["hair_volume"], f.t["hair_len"]
    if f.a["Wavy_Hair"]:
        side = [(hw + vol + 4 * math.sin(y / 7), y) for y in np.arange(-10, length, 6)]
    else:
        side = [(hw + vol + (2 if f.a["Straight_Hair"] else 5) * y / length, y) for y in (-10, length / 2, length)]
    arc = [((hw + vol) * math.cos(th), -10 + (-10 - f.top + vol) * math.sin(th))
           for th in np.linspace(math.pi, 2 * math.pi, 11)]                                # over the head
    right = side + [(hw - 10, length + 4)]                                              # down the right
    pen.polygon(arc + right + [(-x, y) for x, y in reversed(right)], f.hair)
    _draw_strands(pen, f, [(hw + vol * 0.5, -5, length)], mirror=True)


def _draw_strands(pen: _Pen, f: _Face, runs: list, mirror: bool) -> None:
    """Texture lines: straight strands or waves (Straight_Hair / Wavy_Hair)."""
    if not (f.a["Straight_Hair"] or f.a["Wavy_Hair"]):
        return
    line = _mix(f.hair, (255, 255, 255), 0.25) if sum(f.hair) < 200 else _mix(f.hair, (0, 0, 0), 0.3)
    for x0, y0, y1 in runs:
        for dx in (-3, 1, 5):
            ys = y0 + (y1 - y0) * _T9
            xs = x0 + dx + (3 * np.sin(ys / 5) if f.a["Wavy_Hair"] else 0 * ys)
            pen.line(list(zip(xs, ys)), line, 1.2, mirror=mirror)


def _draw_head(pen: _Pen, f: _Face) -> list:
    """Ears and earrings, the face, a double chin; returns the face outline."""
    ear_x = f.hw + 1
    pen.both(ear_x, 10, 5.5, 11, _mix(f.skin, (0, 0, 0), 0.08))
    if f.a["Wearing_Earrings"]:
        metal = f.t["metal"]
        pen.both(ear_x + 1, 22, 2.6, 2.6, metal)
        pen.line([(ear_x + 1, 22), (ear_x + 1, 30)], metal, 1.2, mirror=True)
        pen.both(ear_x + 1, 31, 2.2, 2.2, metal)
    outline = _face_outline(f)
    pen.polygon(outline, f.skin)
    if f.a["Double_Chin"]:
        pen.ellipse(0, f.chin + 2, f.cw + 9, 7, f.skin)
        pen.arc(0, f.chin - 4, f.cw + 6, 6, 20, 160, _rgba(_mix(f.skin, (60, 30, 20), 0.5), 170), 1.6)
        pen.arc(0, f.chin + 2, f.cw + 9, 7, 20, 160, _rgba(_mix(f.skin, (60, 30, 20), 0.4), 120), 1.2)
    return outline


def _draw_skin(pen: _Pen, f: _Face, rng: np.random.Generator) -> None:
    """Beard, stubble, cheeks, wrinkles and blemishes (Mouth / Chin / Cheek / Global cues)."""
    a, hw, jw, cw, chin, mw, my = f.a, f.hw, f.jw, f.cw, f.chin, f.mw, f.mouth_y
    jaw = [(-hw + 1, 10), (-jw, chin - 20), (-cw - 2, chin + 1), (cw + 2, chin + 1), (jw, chin - 20), (hw - 1, 10),
           (hw - 7, 14), (mw + 5, my - 9), (0, my - 11), (-mw - 5, my - 9), (-hw + 7, 14)]
    if a["5_o_Clock_Shadow"]:
        pen.polygon(jaw, (70, 74, 88, 70))
        pts = rng.uniform((-jw, my - 8), (jw, chin - 2), (60, 2))
        pen.draw.point(pen.pts(pts), fill=(50, 50, 60, 150))
    beard = _mix(f.hair, (30, 25, 25), 0.3)
    if not a["No_Beard"] and not (a["Goatee"] or a["Mustache"] or a["Sideburns"]):
        pen.polygon(jaw[:6] + [(hw - 7, 16), (mw + 3, my), (0, my + 10), (-mw - 3, my), (-hw + 7, 16)], beard)
    if a["Sideburns"]:
        pen.polygon([(hw + 0.5, -16), (hw - 6, -16), (hw - 6.5, 20), (hw - 1, 24)], f.hair, mirror=True)
    cheek_x = hw - 12
    if a["High_Cheekbones"]:
        pen.both(cheek_x + 2, 11, 9, 3.5, (255, 255, 255, 90))
        pen.line([(cheek_x + 9, 17), (cheek_x, 27)], _rgba(_mix(f.skin, (60, 30, 20), 0.5), 90), 3, mirror=True)
    if a["Rosy_Cheeks"]:
        pen.both(cheek_x - 1, 22, 8, 5.5, (232, 50, 70, 95))
    if a["Heavy_Makeup"]:
        pen.both(cheek_x, 18, 10, 6, (236, 120, 110, 60))
    line = _rgba(_mix(f.skin, (60, 30, 20), 0.55), 150)
    if not a["Young"]:
        for y in (-24, -30):
            pen.line([(-14, y), (0, y - 1.5), (14, y)], line, 1.2)
        pen.line([(7, 20), (mw + 3, my + 4)], line, 1.4, mirror=True)
        for dy in (-3, 0, 3):
            pen.line([(f.eye_x + 9, dy / 2), (f.eye_x + 13, dy * 1.3)], line, 1.0, mirror=True)
    if not a["Attractive"]:
        spots = rng.uniform((-hw + 8, -20), (hw - 8, chin - 14), (6, 2))
        for x, y in spots:
            pen.ellipse(x, y, 1.3, 1.3, _rgba(_mix(f.skin, (150, 40, 40), 0.4), 200))


def _draw_eyes(pen: _Pen, f: _Face, rng: np.random.Generator) -> tuple:
    """Eye shadow, eyes, bags, brows (Eye group); returns the eye centres."""
    a, ex = f.a, f.eye_x
    dy = 0.0 if a["Attractive"] else rng.choice((-1, 1)) * rng.uniform(1.2, 2.2)     # asymmetry
    centres = ((-ex, 0.0), (ex, dy))
    ry = 1.6 if a["Narrow_Eyes"] else 3.8
    shadow = EYESHADOWS[int(rng.integers(len(EYESHADOWS)))]
    for x, y in centres:
        if a["Heavy_Makeup"]:
            pen.ellipse(x, y - 3, 9.5, 5.5, _rgba(shadow, 150))
        if a["Bags_Under_Eyes"]:
            pen.arc(x, y + 2.5, 7.5, 5.5, 15, 165, _rgba(_mix(f.skin, (70, 40, 70), 0.6), 150), 2.2)
        pen.ellipse(x, y, 7.5, ry, (246, 246, 242))
        pen.ellipse(x, y, 3.2, min(3.2, ry), f.t["eye"])
        pen.ellipse(x, y, 1.4, min(1.4, ry), (15, 10, 10))
        pen.arc(x, y + 0.3, 7.8, ry + 0.4, 190, 350, (25, 18, 18), 2.0 if a["Heavy_Makeup"] else 1.0)
    width = 2.2 + (0.8 if a["Male"] else 0) + f.t["brow_w"] + (3.2 if a["Bushy_Eyebrows"] else 0)
    peak = 6.5 if a["Arched_Eyebrows"] else 1.5
    for sign, (x, y) in zip((-1, 1), centres):
        brow = [(x - 9 * sign, y - 10), (x + 1 * sign, y - 11 - peak), (x + 10 * sign, y - 9)]
        pen.line(brow, f.brow, width)
    return centres


def _draw_nose(pen: _Pen, f: _Face) -> tuple:
    """Big_Nose: long, wide wings, large nostrils; Pointy_Nose: a sharp tip (Nose group); returns the tip."""
    a, big = f.a, f.a["Big_Nose"]
    w = f.t["nose_w"] + (3.5 if big else 0)                                    # half width of the wings
    tip_y = 24.0 + (2.5 if big else 0)
    shade = _rgba(_mix(f.skin, (70, 35, 20), 0.5), 130)
    if big:
        pen.polygon([(-3, 6), (3, 6), (8 + w, tip_y - 2), (6 + w, tip_y + 3), (-6 - w, tip_y + 3),
                     (-8 - w, tip_y - 2)], _rgba(shade, 70))
    if a["Pointy_Nose"]:
        pen.polygon([(-2.5, 4), (2.5, 4), (4 + w, tip_y - 3), (0, tip_y + 3), (-4 - w, tip_y - 3)], shade)
        pen.line([(0.5, 4), (0.5, tip_y - 1)], (255, 255, 255, 110), 1.3)
    else:
        pen.line([(-3, 2), (-4.5 - w * 0.5, tip_y - 4)], shade, 1.5)
        pen.ellipse(0, tip_y - 2, 5 + w, 4 + (2.5 if big else 0), _rgba(shade, 70))
    nx, nr = 4.5 + w - (1 if a["Pointy_Nose"] else 0), (3.8, 2.6) if big else (2.4, 1.5)
    pen.both(nx, tip_y, *nr, _rgba(_mix(f.skin, (40, 15, 10), 0.6), 210))
    return 0.0, tip_y


def _draw_mouth(pen: _Pen, f: _Face, rng: np.random.Generator) -> tuple:
    """Mustache, lips (Big_Lips, Wearing_Lipstick), smile, open mouth, goatee; returns the corners."""
    a, mw, yc = f.a, f.mw, f.mouth_y
    ym = yc + (5.0 if a["Smiling"] else 0.5)           # lip line in the middle
    tu, tl = (5.0, 7.5) if a["Big_Lips"] else (2.6, 3.8)
    gap = 4.5 if a["Mouth_Slightly_Open"] else 0.0
    beard = _mix(f.hair, (30, 25, 25), 0.3)
    if a["Mustache"]:
        pen.polygon([(-mw - 3, yc + 2), (-mw * 0.6, ym - tu - 6), (0, ym - tu - 5), (mw * 0.6, ym - tu - 6),
                     (mw + 3, yc + 2), (mw * 0.5, ym - tu - 1), (0, ym - tu - 0.5), (-mw * 0.5, ym - tu - 1)], beard)
    if a["Goatee"]:
        pen.polygon([(-10, ym + gap + tl + 1.5), (10, ym + gap + tl + 1.5), (f.cw + 1, f.chin - 5),
                     (0, f.chin + 3), (-f.cw - 1, f.chin - 5)], beard)
    lip = LIPSTICKS[int(rng.integers(len(LIPSTICKS)))] if a["Wearing_Lipstick"] else _mix(f.skin, (170, 80, 80), 0.45)
    if gap:
        pen.polygon([(-mw, yc), (-mw * 0.5, ym - 0.5), (mw * 0.5, ym - 0.5), (mw, yc), (mw * 0.5, ym + gap),
                     (-mw * 0.5, ym + gap)], (70, 20, 28))
        if a["Smiling"]:
            pen.polygon([(-mw * 0.6, ym - 0.5), (mw * 0.6, ym - 0.5), (mw * 0.5, ym + gap * 0.55),
                         (-mw * 0.5, ym + gap * 0.55)], (244, 242, 232))
    pen.polygon([(-mw, yc), (-mw * 0.5, ym - tu), (0, ym - tu + 1), (mw * 0.5, ym - tu), (mw, yc),
                 (mw * 0.5, ym), (-mw * 0.5, ym)], lip)
    pen.polygon([(-mw, yc), (-mw * 0.5, ym + gap), (mw * 0.5, ym + gap), (mw, yc), (mw * 0.6, ym + gap + tl),
                 (0, ym + gap + tl + 1), (-mw * 0.6, ym + gap + tl)], lip)
    return (-mw, yc), (mw, yc)


def _draw_top_hair(pen: _Pen, f: _Face) -> None:
    """Hair on top: colour, gray crown, straight/wavy strands, bangs, receding hairline or a bald dome."""
    a, hw = f.a, f.hw
    vol = f.t["hair_volume"] * (0.6 if a["Male"] else 1.0)
    if a["Bald"]:
        pen.ellipse(-9, f.top + 16, 9, 4.5, (255, 255, 255, 80))                    # shine
        pen.polygon([(hw + 1, -20), (hw - 4, -20), (hw - 4, 6), (hw + 1, 6)], f.crown, mirror=True)
        return
    side_y = 2 if a["Male"] else 12
    outer = [((hw + vol) * math.cos(th), -12 + (-12 - f.top + vol) * math.sin(th))
             for th in np.linspace(math.pi, 2 * math.pi, 15)]
    if a["Bangs"]:
        hairline = [(x, -15 + (3 if i % 2 else 0)) for i, x in enumerate(np.linspace(hw - 4, -hw + 4, 11))]
    elif a["Receding_Hairline"]:
        hairline = [(hw - 5, -26), (hw * 0.55, -44), (hw * 0.2, -38), (0, -40), (-hw * 0.2, -38), (-hw * 0.55, -44),
                    (-hw + 5, -26)]
    else:
        p = f.t["part"]
        hairline = [(hw - 4, -22), (hw * 0.5, -33 - 2 * p), (0, -35), (-hw * 0.5, -33 + 2 * p), (-hw + 4, -22)]
    right = [(hw + vol * 0.6, side_y), (hw - 4, side_y)]
    left = [(-hw + 4, side_y), (-hw - vol * 0.6, side_y)]
    pen.polygon(outer + right + hairline + left, f.crown if a["Gray_Hair"] else f.hair)
    if a["Gray_Hair"] and f.crown != f.hair:
        pen.polygon([(-hw + 2, side_y), (-hw - vol * 0.6, side_y), (-hw - vol * 0.8, -14), (-hw + 2, -14)], f.hair,
                    mirror=True)
    _draw_strands(pen, f, [(x, f.top + 4, -24) for x in (-hw * 0.5, 0.0, hw * 0.5)], mirror=False)


def _draw_hat(pen: _Pen, f: _Face, rng: np.random.Generator) -> None:
    """A hat over the head (Wearing_Hat)."""
    hat = colorsys_rgb(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.15, 0.9))
    band = _mix(hat, (0, 0, 0), 0.45)
    hw, top = f.hw, f.top
    pen.polygon([(-hw - 5, -26), (-hw + 1, top - 6), (-hw * 0.5, top - 12), (hw * 0.5, top - 12), (hw - 1, top - 6),
                 (hw + 5, -26)], hat)
    pen.polygon([(-hw - 5, -26), (hw + 5, -26), (hw + 4, -33), (-hw - 4, -33)], band)
    if rng.random() < 0.6:
        pen.ellipse(0, -25, hw + 20, 5, hat)                                         # brim
    else:
        pen.polygon([(-hw - 3, -25), (hw + 3, -25), (hw * 0.6, -16), (-hw * 0.6, -16)], band)  # cap visor


def _draw_glasses(pen: _Pen, f: _Face, centres: tuple) -> None:
    """Eyeglasses: two frames, bridge and temples (Eye group)."""
    frame, lens = f.t["frame"], (20, 20, 30, 215) if f.t["sunglasses"] else (200, 220, 240, 45)
    for x, y in centres:
        rim = [(x - 11.5, y - 4), (x - 8, y - 7), (x + 8, y - 7), (x + 11.5, y - 4), (x + 11.5, y + 5),
               (x + 8, y + 9), (x - 8, y + 9), (x - 11.5, y + 5)]
        pen.polygon(rim, lens)
        pen.line(rim + rim[:1], frame, 2.4)
    (lx, ly), (rx, ry) = centres
    pen.line([(lx + 11.5, ly - 1), (rx - 11.5, ry - 1)], frame, 2)
    pen.line([(rx + 11.5, ry - 2), (f.hw + 1, ry - 3)], frame, 2)
    pen.line([(lx - 11.5, ly - 2), (-f.hw - 1, ly - 3)], frame, 2)


def background_textures(rng: np.random.Generator, size: tuple, k: int = 8) -> list:
    """A small bank of gray background textures (blobs, grain, stripes), PAD larger than ``size`` (W, H).

    Gray levels lie in [255 (1 - depth), 255]: multiplying a colour by one shades it."""
    w, h = size[0] + PAD, size[1] + PAD
    bank = []
    for i in range(k):
        cells = (int(rng.integers(3, 8)), int(rng.integers(3, 8))) if i % 2 == 0 else (w // 4, h // 4)
        small = Image.fromarray((rng.random(cells[::-1]) * 255).astype(np.uint8))
        tex = np.asarray(small.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255
        if i % 3 == 2:
            tex = 0.5 * tex + 0.25 * (1 + np.sin(np.arange(w, dtype=np.float32) / rng.uniform(3, 9)))[None, :]
        depth = rng.uniform(0.15, 0.45)
        bank.append(Image.fromarray((255 * (1 - depth * np.clip(tex, 0, 1))).astype(np.uint8)).convert("RGB"))
    return bank


def _background(rng: np.random.Generator, size: tuple, bank: list) -> Image.Image:
    """A random colour shaded by a texture from ``bank`` (a random crop of it)."""
    w, h = size
    colour = colorsys_rgb(rng.random(), rng.uniform(0.05, 0.6), rng.uniform(0.3, 1.0))
    tex = bank[int(rng.integers(len(bank)))]
    x0, y0 = (int(v) for v in rng.integers(0, PAD, 2))
    return ImageChops.multiply(tex.crop((x0, y0, x0 + w, y0 + h)), Image.new("RGB", size, colour))


def draw_face(drawn: np.ndarray, traits: dict, rng: np.random.Generator, bank: list,
              image_size: tuple = BASE_SIZE, pose: dict = POSES["a"]) -> tuple:
    """Draw one face showing the attributes ``drawn`` (A,) in {0,1}.

    Returns (image RGB of ``image_size`` (W, H), landmarks int (10,) as in
    list_landmarks_align_celeba.txt, bbox int (4,) x_1, y_1, width, height of
    the face). ``traits``: from ``identity_traits``; ``bank``: ``background_textures(rng, image_size)``;
    ``pose``: the crop and pose of a domain (``POSES``).
    """
    a = {name: bool(v) for name, v in zip(ATTRIBUTES, drawn)}
    w, h = image_size
    scale = min(w / BASE_SIZE[0], h / BASE_SIZE[1])
    dx, dy = pose["offset"]
    ax = (BASE_EYES[0] + dx) * w / BASE_SIZE[0] + rng.normal(0, pose["shift_sd"]) * scale  # pose: shift,
    ay = (BASE_EYES[1] + dy) * h / BASE_SIZE[1] + rng.normal(0, pose["shift_sd"]) * scale
    angle = float(np.clip(rng.normal(0, pose["angle_sd"]), -pose["angle_max"], pose["angle_max"]))  # rotation,
    image = _background(rng, (w, h), bank)
    pen = _Pen(image, ax, ay, scale * rng.uniform(*pose["scale"]), angle)                # scale
    f = _face_geometry(a, traits)
    _draw_back_hair(pen, f)
    _draw_body(pen, f, rng)
    outline = _draw_head(pen, f)
    _draw_skin(pen, f, rng)
    eyes = _draw_eyes(pen, f, rng)
    nose = _draw_nose(pen, f)
    mouth = _draw_mouth(pen, f, rng)
    _draw_top_hair(pen, f)
    if a["Wearing_Hat"]:
        _draw_hat(pen, f, rng)
    if a["Eyeglasses"]:
        _draw_glasses(pen, f, eyes)
    landmarks = np.round(pen.pts([*eyes, nose, *mouth])).astype(int).ravel()          # (10,)
    face = np.asarray(pen.pts(outline))                                               # (P, 2)
    x0, y0 = np.clip(np.floor(face.min(0)), 0, None)
    x1, y1 = np.minimum(np.ceil(face.max(0)), (w - 1, h - 1))
    bbox = np.array([x0, y0, x1 - x0 + 1, y1 - y0 + 1]).astype(int)
    image = _lighting(image, rng)
    if a["Blurry"]:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(1.4, 2.4) * scale))
    return image, landmarks, bbox


def _lighting(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A light from one side (a darkening gradient), then a veil of brightness (lower contrast)."""
    half = np.array([-0.5, 0.5])
    corners = np.add.outer(half * rng.uniform(-0.25, 0.25), half * rng.uniform(-0.45, 0.45))   # (2, 2): y, x
    gain = Image.fromarray((255 * (1 + corners - corners.max())).astype(np.uint8))
    image = ImageChops.multiply(image, gain.resize(image.size, Image.BILINEAR).convert("RGB"))
    veil = int(rng.uniform(0, 32))
    return ImageChops.screen(image, Image.new("RGB", image.size, (veil, veil, veil)))


# ----------------------------------------------------------------------------- the dataset

def _partitions(n_ids: int, rng: np.random.Generator) -> np.ndarray:
    """Partition 0/1/2 (train/val/test, about 80/10/10) of each identity; val and test get one at least."""
    n_val = n_test = max(1, round(0.1 * n_ids)) if n_ids >= 3 else 0
    part = np.zeros(n_ids, dtype=np.int64)
    order = rng.permutation(n_ids)
    part[order[n_ids - n_val - n_test: n_ids - n_test]] = 1
    part[order[n_ids - n_test:]] = 2
    return part


def _write_atomic(path: Path, lines: list) -> None:
    """Write CRLF lines (as the official files) to ``path`` via a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        fh.write("\r\n".join(lines) + "\r\n")
    os.replace(tmp, path)


def _write_annotations(root: Path, names: list, labels: np.ndarray, part: np.ndarray, ident: np.ndarray,
                       landmarks: np.ndarray, bbox: np.ndarray) -> None:
    """The five official text files (layout of CelebA's Anno/ and Eval/ files)."""
    n = len(names)
    _write_atomic(root / "list_eval_partition.txt", [f"{f} {p}" for f, p in zip(names, part)])
    _write_atomic(root / "identity_CelebA.txt", [f"{f} {i}" for f, i in zip(names, ident)])
    _write_atomic(root / "list_bbox_celeba.txt", [str(n), "image_id " + " ".join(BBOX)]
                  + [f"{f} {b[0]:5d} {b[1]:3d} {b[2]:3d} {b[3]:3d}" for f, b in zip(names, bbox)])
    _write_atomic(root / "list_landmarks_align_celeba.txt", [str(n), LANDMARK_NAMES + " "]
                  + [f"{f} " + " ".join(f"{v:4d}" for v in lm) for f, lm in zip(names, landmarks)])
    signs = np.where(labels == 1, 1, -1)
    _write_atomic(root / "list_attr_celeba.txt", [str(n), " ".join(ATTRIBUTES) + " "]
                  + [f"{f} " + " ".join(f"{v:2d}" for v in row) for f, row in zip(names, signs)])


def domain_seed(seed: int, domain: str) -> int:
    """The seed domain ``domain`` draws from (``seed`` itself for "a")."""
    if domain not in POSES:
        raise ValueError(f"unknown domain {domain!r}; use 'a' (aligned crops) or 'b' (looser, unaligned crops)")
    return seed + DOMAIN_SEED_OFFSET[domain]


def generate(root: str | Path, n_images: int, image_size: tuple = BASE_SIZE, seed: int = 0,
             label_noise: float = 0.02, images_per_identity: int = 20, progress: bool = True,
             domain: str = "a") -> Path:
    """Write a CelebA-format dataset of ``n_images`` drawn faces under ``root``; return ``root``.

    Layout: root/img_align_celeba/000001.jpg ..., list_attr_celeba.txt,
    list_eval_partition.txt (train ~80 %, val ~10 %, test ~10 % by identity;
    ids contiguous: train first), identity_CelebA.txt,
    list_landmarks_align_celeba.txt, list_bbox_celeba.txt, and synthetic.json
    (the parameters). The annotation files are written last and atomically, so
    a half-written folder is never taken as done; a folder already holding
    the same dataset is returned at once. Same seed, same bytes.
    ``domain="b"``: the second domain (another crop and pose, another seed;
    see the module docstring). Used in notebooks 04-06 for cross-domain tests.
    """
    root = Path(root)
    draw_seed = domain_seed(seed, domain)
    params = {"generator": "faceattr_nb.data.synthetic", "version": GENERATOR_VERSION, "n_images": int(n_images),
              "image_size": [int(v) for v in image_size], "seed": int(seed), "label_noise": float(label_noise),
              "images_per_identity": int(images_per_identity)}
    if domain != "a":  # domain a's parameters stay as before, so its folders stay valid
        params["domain"] = domain
    marker = root / "synthetic.json"
    if marker.exists() and all((root / f).exists() for f in ANNOTATION_FILES):
        if json.loads(marker.read_text()).get("params") == params:
            return root
    if not marker.exists() and (root / "list_attr_celeba.txt").exists():
        raise FileExistsError(f"{root} holds a dataset this generator did not write (no synthetic.json); "
                              "choose an empty folder for generated data")
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    images = root / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    for name in ("synthetic.json", *ANNOTATION_FILES):
        (root / name).unlink(missing_ok=True)
    for stale in images.glob("*.jpg"):
        stale.unlink()

    seed = draw_seed  # domain b: another seed, so other people and faces
    sample = sample_labels(n_images, seed, images_per_identity, label_noise)
    n_ids = int(sample.identity[-1]) + 1
    rng = np.random.default_rng([seed, 1])
    part_of_id = _partitions(n_ids, rng)
    person_id = rng.permutation(n_ids) + 1                            # identity numbers as written
    part = part_of_id[sample.identity]
    order = np.concatenate([rng.permutation(np.flatnonzero(part == p)) for p in (0, 1, 2)])  # file order
    traits = [identity_traits(np.random.default_rng([seed, 2, i])) for i in range(n_ids)]
    bank = background_textures(np.random.default_rng([seed, 3]), image_size)
    names = [f"{k + 1:06d}.jpg" for k in range(n_images)]
    landmarks = np.zeros((n_images, 10), dtype=np.int64)
    bbox = np.zeros((n_images, 4), dtype=np.int64)
    for k in tqdm(range(n_images), desc="drawing synthetic CelebA", disable=not progress):
        row = order[k]
        rng_k = np.random.default_rng([seed, 4, k])
        image, landmarks[k], bbox[k] = draw_face(sample.drawn[row], traits[sample.identity[row]], rng_k, bank,
                                                 image_size, POSES[domain])
        image.save(images / names[k], quality=JPEG_QUALITY)
    _write_annotations(root, names, sample.labels[order], part[order], person_id[sample.identity[order]],
                       landmarks, bbox)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps({"params": params, "partition_sizes": np.bincount(part, minlength=3).tolist(),
                               "n_identities": n_ids}, indent=1))
    os.replace(tmp, marker)
    return root
