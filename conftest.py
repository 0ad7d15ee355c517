"""Test-wide settings: the smoke profile, no hub downloads, a headless plot backend, one thread.

Set before any test or notebook kernel starts (nbmake kernels inherit the
environment), unless the caller chose otherwise. One OpenMP thread per
process: the smoke models run many tiny operations, where a second thread
costs more than it gives, and on a busy machine two spinning threads per
process slowed notebooks 04 and 05 three- to six-fold (measured here).
"""
import os

os.environ.setdefault("FACEATTR_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_MININTERVAL", "5")
os.environ.setdefault("OMP_NUM_THREADS", "1")
