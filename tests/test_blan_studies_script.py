"""benchmarks/blan_studies.py on tiny generated faces: one JSON per run, paired differences, the RESULTS.md section."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from faceattr_nb.data import splits, synthetic

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import blan_studies  # noqa: E402  (a script beside the package, not part of it)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setattr(splits, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setenv("FACEATTR_SUBSET", "all")  # a generated CelebA-format folder, not a full CelebA
    monkeypatch.setitem(blan_studies.ARCH, "width", 0.25)
    monkeypatch.setitem(blan_studies.ARCH, "lmim_hidden", 16)
    data = synthetic.generate(tmp_path / "faces", 120, seed=0, images_per_identity=10, progress=False)
    md = tmp_path / "RESULTS.md"
    md.write_text(f"# Measured\n\nkept above\n\n{blan_studies.BEGIN}\nold\n{blan_studies.END}\n\nkept below\n")
    return data, md, tmp_path / "out"


def test_runs_write_json_and_the_section_with_paired_differences(tiny, monkeypatch):
    data, md, out = tiny
    args = ["--out", str(out), "--runs", str(out.parent / "runs"), "--epochs", "1", "--data", str(data),
            "--results", str(md), "--threads", "1",
            "--only", "blan", "blan_parallel", "blan_wo_os"]
    blan_studies.main(args)
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(records) == {"blan", "blan_parallel", "blan_wo_os"}
    assert records["blan_parallel"]["create"] == {"attention_order": "parallel"}
    assert records["blan_wo_os"]["create"] == {"dropout": 0.0} and records["blan_wo_os"]["train"] == {"flip": False}
    assert np.load(out / "blan.npz")["probs"].shape[1] == 40
    text = md.read_text()
    assert text.startswith("# Measured\n\nkept above") and text.rstrip().endswith("kept below") and "old" not in text
    rows = [line for line in text.splitlines() if line.startswith("| blan")]
    assert [r.split(" | ")[0] for r in rows] == ["| blan", "| blan_parallel", "| blan_wo_os"]
    assert rows[0].split(" | ")[4] == "-" and "[" in rows[1].split(" | ")[4]  # paired difference vs blan
    assert "86.74%" in rows[1] and "86.09%" in rows[2]  # the paper's LFWA figures: Table 5 w/ OS, Table 3 w/o OS
    before = (out / "blan.json").stat().st_mtime_ns
    blan_studies.main(args[:-3] + ["blan", "--skip-done"])  # kept, not trained again
    assert (out / "blan.json").stat().st_mtime_ns == before


def test_an_unknown_run_is_refused(tiny):
    with pytest.raises(SystemExit):
        blan_studies.main(["--only", "blan_typo", "--out", str(tiny[2])])
