"""Test-wide settings: the smoke profile, no hub downloads, a headless plot backend.

Set before any test or notebook kernel starts (nbmake kernels inherit the
environment), unless the caller chose otherwise.
"""
import os

os.environ.setdefault("FACEATTR_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_MININTERVAL", "5")
