"""Time every notebook end to end, as a student runs them: one after the other, fresh runs folder.

    PYTHONPATH=$PWD python benchmarks/notebook_times.py --profile cpu --out OUT
    PYTHONPATH=$PWD python benchmarks/notebook_times.py --profile cpu --data ../shared/data --out OUT

Each notebook runs top to bottom in its own Jupyter kernel (nbclient, the
engine behind ``jupyter nbconvert --execute`` and nbmake), in course order,
with ``FACEATTR_PROFILE`` set and a new, empty ``FACEATTR_RUNS`` folder (so no
run resumes from an earlier checkpoint; notebook 07 reads the runs that
01-06 wrote, as in class). The generated dataset and the decoded-image
cache are built by the first notebook that needs them, as on a fresh clone,
unless ``--keep-data`` reuses what exists. Written to OUT: ``times.json``
(per notebook: wall seconds, load average before and after, the machine,
the command) and each executed notebook, whose printed results can be read.
A notebook that fails is recorded with its error and the next one runs.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


def machine() -> str:
    """CPU model and core count, as the tables print them."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def run_notebook(path: Path, out_dir: Path, timeout: int) -> dict:
    """Execute ``path`` in a fresh kernel (cwd: its folder); return wall time and status."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    load0 = os.getloadavg()
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as exc:  # a failing notebook is a result too; the next one still runs
        error = f"{type(exc).__name__}: {str(exc)[-2000:]}"
    wall = time.perf_counter() - start
    nbformat.write(nb, out_dir / path.name)
    return {"notebook": path.name, "wall_s": round(wall, 1), "ok": error is None, "error": error,
            "loadavg_before": [round(x, 2) for x in load0],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data", default=None, help="FACEATTR_DATA (default: the notebooks' own search)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 03 07")
    ap.add_argument("--solutions", action="store_true", help="time the solution notebooks too")
    ap.add_argument("--keep-data", action="store_true",
                    help="reuse the generated dataset and image cache if they exist (default: build them fresh)")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = ap.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    runs = args.out / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    os.environ.update(FACEATTR_PROFILE=args.profile, FACEATTR_RUNS=str(runs), HF_HUB_OFFLINE="1",
                      MPLBACKEND="module://matplotlib_inline.backend_inline")
    if args.data:
        os.environ["FACEATTR_DATA"] = str(Path(args.data).resolve())
    if not args.keep_data and not args.data:  # a fresh clone has no generated faces and no cache yet
        for folder in (REPO / "data").glob("synthetic_*"):
            shutil.rmtree(folder)

    paths = sorted(NOTEBOOKS.glob("0*.ipynb"))
    if args.solutions:
        paths += sorted((NOTEBOOKS / "solutions").glob("0*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(k) for k in args.only)]
    record = {"command": "python benchmarks/notebook_times.py " + " ".join(argv or sys.argv[1:]),
              "profile": args.profile, "data": args.data or "default search", "machine": machine(),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
              "threads": os.environ.get("OMP_NUM_THREADS", "torch default"), "notebooks": []}
    for path in paths:
        print(f"{path.name} ...", flush=True)
        row = run_notebook(path, args.out, args.timeout)
        record["notebooks"].append(row)
        print(f"  {row['wall_s'] / 60:.1f} min, ok={row['ok']}, load {row['loadavg_before']} -> "
              f"{row['loadavg_after']}", flush=True)
        (args.out / "times.json").write_text(json.dumps(record, indent=1))
    total = sum(r["wall_s"] for r in record["notebooks"])
    print(f"total {total / 60:.1f} min")


if __name__ == "__main__":
    main()
