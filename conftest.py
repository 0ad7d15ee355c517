"""Test-wide settings: the smoke profile, no hub downloads, figures really drawn, one thread.

Set before any test or notebook kernel starts (nbmake kernels inherit the
environment), unless the caller chose otherwise. Plotting: notebook kernels
always get matplotlib's inline backend, so every figure a cell shows is
rendered to PNG — a figure that fails to draw leaves an error output, which
fails the notebook under nbmake (Agg in a kernel would print "<Figure size
...>" and let a broken plot pass; tests/test_notebook_figures.py checks
both). This pytest process itself draws headless, with Agg.

One OpenMP thread per process: the smoke models run many tiny operations, where a second thread
costs more than it gives, and on a busy machine two spinning threads per
process slowed notebooks 04 and 05 three- to six-fold (measured here).
"""
import os

os.environ.setdefault("FACEATTR_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_MININTERVAL", "5")
os.environ.setdefault("OMP_NUM_THREADS", "1")

os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # for the kernels: see above

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # for this process; kernels read MPLBACKEND when they start
