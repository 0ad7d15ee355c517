"""Profiles (smoke / cpu / gpu) and data-root discovery.

A profile changes sizes and counts, never the code path (DESIGN.md). Pick
one with ``resolve(profile=...)`` or the environment variable
``FACEATTR_PROFILE``; the data root comes from ``resolve(data=...)``, else
``FACEATTR_DATA``, else ``data/celeba`` in the repository, else a generated
CelebA-format dataset under ``data/synthetic_<n>`` (every figure then says
"synthetic"). On a full CelebA the ``cpu`` profile reads only the course
subset (6,000 images, ``Profile.subset``); ``resolve(subset="all")`` or
``FACEATTR_SUBSET=all`` reads every image. Used in every notebook.
"""
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("smoke", "cpu", "gpu")
SUBSETS = ("course", "all")  # values of resolve(subset=...) and FACEATTR_SUBSET


@dataclass(frozen=True)
class Profile:
    name: str
    n_synthetic: int         # images generated when no real CelebA is found
    img_size: int            # side of the RGB input of notebooks 03-07
    paper_sizes: dict = field(default_factory=dict)  # per-model input side where it differs
    epochs: int = 1          # training epochs (early stopping may end sooner)
    batch_size: int = 32     # images per step
    max_train: int | None = None  # cap on training images (None: the whole split)
    max_eval: int | None = None   # cap on validation / test images
    folds: int = 2           # identity-grouped cross-validation folds (notebook 02)
    grid: bool = False       # run the full hyper-parameter grid of notebook 02
    pretrained: bool = False  # ask timm for ImageNet weights (needs internet)
    workers: int = 2         # threads that decode JPEGs into the cache
    subset: str | None = None  # "course": on a full CelebA, only the course subset's 6,000 images (None: all)
    train_images: int | None = None  # the training faces ``epochs`` is sized for (None: any number)

    def size_for(self, model: str) -> int:
        """Input side for ``model`` (e.g. 'xception', 'blan') in this profile."""
        return self.paper_sizes.get(model, self.img_size)

    def epochs_for(self, n_train: int) -> int:
        """Epochs for a run on ``n_train`` training faces: ``epochs``, or fewer on more faces than
        ``train_images``, so that the run takes about the optimizer steps (and minutes) it was sized for."""
        if not self.train_images or n_train <= self.train_images:
            return self.epochs
        return max(1, round(self.epochs * self.train_images / n_train))


PROFILE_TABLE: dict[str, Profile] = {
    # CI / nbmake: a few hundred generated faces, tiny images, 1-2 epochs.
    "smoke": Profile("smoke", n_synthetic=480, img_size=48, epochs=2, batch_size=32,
                     max_train=384, max_eval=96, folds=2),
    # A laptop: a few thousand faces (or the real subset), minutes per notebook.
    # Notebooks 05 and 06 train five networks each: on more faces than the generated 2,400 (the real subset's
    # 4,560) they take fewer epochs (Profile.epochs_for), the same steps, to stay within a class session.
    "cpu": Profile("cpu", n_synthetic=3000, img_size=64, epochs=12, batch_size=64,
                   max_train=None, max_eval=None, folds=5, grid=True, workers=4, subset="course",
                   train_images=2400),
    # One GPU and the real CelebA: the papers' input sizes and schedules.
    "gpu": Profile("gpu", n_synthetic=20000, img_size=224,
                   paper_sizes={"facenet": 36, "xception": 150, "scratch_cnn": 150,
                                "pse_dmtl": 256, "gal": 256, "blan": 256},
                   epochs=20, batch_size=256, folds=5, grid=True, pretrained=True, workers=8),
}


@dataclass(frozen=True)
class Setup:
    """What ``resolve`` found: the profile, the data and where runs go."""
    profile: Profile
    data_root: Path
    source: str              # "celeba", "real-subset", "lfwa" or "synthetic"
    runs_dir: Path
    device: str
    seed: int = 0

    def describe(self) -> str:
        subset = f", {self.profile.subset} subset" if self.source == "celeba" and self.profile.subset else ""
        return (f"profile={self.profile.name} data={self.source}{subset} ({self.data_root}) "
                f"device={self.device} torch={torch.__version__}")

    def as_dict(self) -> dict:
        return {"profile": asdict(self.profile), "data_root": str(self.data_root),
                "source": self.source, "device": self.device, "seed": self.seed}


def get_profile(name: str | None = None) -> Profile:
    """The profile ``name``, else $FACEATTR_PROFILE (empty: unset), else 'cpu'; case and spaces do not matter."""
    name = (name or os.environ.get("FACEATTR_PROFILE") or "cpu").strip().lower()
    if name not in PROFILE_TABLE:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)} "
                         "(argument profile= or environment variable FACEATTR_PROFILE)")
    return PROFILE_TABLE[name]


def choose_subset(profile: Profile, subset: str | None = None) -> Profile:
    """``profile`` with the subset ``subset``, else $FACEATTR_SUBSET, else its own ("course" or "all")."""
    choice = (subset or os.environ.get("FACEATTR_SUBSET") or "").strip().lower()
    if not choice:
        return profile
    if choice not in SUBSETS:
        raise ValueError(f"unknown subset {choice!r}; choose one of {', '.join(SUBSETS)} "
                         "(argument subset= or environment variable FACEATTR_SUBSET)")
    return replace(profile, subset=None if choice == "all" else choice)


def detect_source(root: Path) -> str | None:
    """'celeba' for a CelebA folder (either layout), 'real-subset' for the shared
    course folder (celeba_annotations/ + celeba_images/), 'lfwa' for LFWA
    (lfw_att_40.mat, read by data.lfwa), else None."""
    if (root / "celeba_annotations").is_dir() and (root / "celeba_images").is_dir():
        return "real-subset"
    if (root / "lfw_att_40.mat").is_file():
        return "lfwa"
    for base in (root, root / "celeba"):
        if any((base / f"list_attr_celeba.{ext}").exists() for ext in ("txt", "csv")):
            return "celeba"
    return None


def resolve(profile: str | None = None, data: str | Path | None = None,
            runs_dir: str | Path | None = None, seed: int = 0, generate: bool = True,
            subset: str | None = None) -> Setup:
    """Choose profile, data and device; generate the synthetic set if no CelebA is found.

    ``subset`` ("course" or "all", else $FACEATTR_SUBSET, else the profile's)
    applies to a full CelebA only: the real-subset folder always gives the
    course subset, the synthetic set all its images.
    """
    prof = choose_subset(get_profile(profile), subset)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    runs = Path(runs_dir or os.environ.get("FACEATTR_RUNS", REPO_ROOT / "runs"))
    explicit = data or os.environ.get("FACEATTR_DATA")
    if explicit:
        root = Path(explicit).expanduser()
        source = detect_source(root)
        if source is None:
            raise FileNotFoundError(
                f"CelebA not found at {root} (that is {root.resolve()}: a relative path is read from the "
                "current folder, in Jupyter the notebook's own): expected img_align_celeba/ and "
                "list_attr_celeba.txt (official) or list_attr_celeba.csv (Kaggle), or the course's real "
                "subset (celeba_annotations/ + celeba_images/), or LFWA (lfw_att_40.mat); see data/README.md")
        return Setup(prof, root, source, runs, device, seed)
    default = REPO_ROOT / "data" / "celeba"
    source = detect_source(default)
    if source:  # CelebA, or the course's real subset, placed in data/celeba
        return Setup(prof, default, source, runs, device, seed)
    root = REPO_ROOT / "data" / f"synthetic_{prof.n_synthetic}_s{seed}"
    if generate:  # returns at once when the folder already holds this dataset, complete
        from faceattr_nb.data.synthetic import generate as generate_faces
        generate_faces(root, prof.n_synthetic, seed=seed)
    return Setup(prof, root, "synthetic", runs, device, seed)


def transfer_report_setup(setup: Setup) -> Setup:
    """``setup`` with, in the gpu profile, the transfer report's amounts (its section 4.1): 40,000
    training and 10,000 validation and test images, 40 epochs; other profiles as they are.
    Used in notebook 03 and its solutions, so both train on the same images."""
    if setup.profile.name != "gpu":
        return setup
    return replace(setup, profile=replace(setup.profile, max_train=40_000, max_eval=10_000, epochs=40))
