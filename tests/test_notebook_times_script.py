"""benchmarks/notebook_times.py: the run-time table it writes into RESULTS.md (no notebook is run here)."""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import notebook_times  # noqa: E402  (a script beside the package, not part of it)


def record(label, times, failed=()):
    return {"command": f"python benchmarks/notebook_times.py --label {label}", "profile": "cpu", "data": "x",
            "label": label, "machine": "a CPU, 2 cores", "date": "2026-12-03", "threads": "torch default",
            "notebooks": [{"notebook": f"{k}.ipynb", "wall_s": s, "ok": k not in failed, "error": None,
                           "loadavg_before": [1.0, 1, 1], "loadavg_after": [2.5, 2, 2]} for k, s in times.items()]}


def test_render_one_column_per_record_with_totals_and_failures(tmp_path):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(json.dumps(record("generated faces", {"01_eda": 30, "02_facenet": 330})))
    b.write_text(json.dumps(record("the real subset", {"01_eda": 18, "02_facenet": 600}, failed={"02_facenet"})))
    md = tmp_path / "RESULTS.md"
    md.write_text(f"# R\n\nabove\n\n{notebook_times.BEGIN}\nold\n{notebook_times.END}\n\nbelow\n")
    notebook_times.main(["--render", str(a), str(b), "--results", str(md)])
    text = md.read_text()
    assert "above" in text and "below" in text and "\nold\n" not in text
    assert "| notebook | cpu, generated faces | cpu, the real subset |" in text
    assert "| `01_eda` | 0.5 | 0.3 |" in text and "| `02_facenet` | 5.5 | 10.0 (failed) |" in text
    assert "| **all notebooks above** | **6.0** | **10.3** |" in text
    assert "generated faces: 2.5" in text  # the highest load seen, so a disturbed run shows


def test_render_marks_a_partial_record_and_prints_its_note(tmp_path):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(json.dumps(record("generated faces", {"01_eda": 30, "02_facenet": 330, "03_x": 60})))
    partial = record("the real subset", {"01_eda": 18, "02_facenet": 600})
    partial["note"] = "03 not measured: the session ended."
    b.write_text(json.dumps(partial))
    md = tmp_path / "RESULTS.md"
    md.write_text(f"{notebook_times.BEGIN}\n{notebook_times.END}\n")
    notebook_times.main(["--render", str(a), str(b), "--results", str(md)])
    text = md.read_text()
    assert "| `03_x` | 1.0 | - |" in text
    assert "| **all notebooks above** | **7.0** | **10.3** (2 of 3 notebooks) |" in text
    assert "2026-12-03. 03 not measured: the session ended." in text


def test_keep_runs_leaves_the_earlier_notebooks_runs_in_place(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))  # main() sets FACEATTR_* for its kernels
    kept = tmp_path / "runs" / "pse_baseline"
    kept.mkdir(parents=True)
    notebook_times.main(["--out", str(tmp_path), "--only", "no_such_notebook", "--keep-data", "--keep-runs"])
    assert kept.exists()
    notebook_times.main(["--out", str(tmp_path), "--only", "no_such_notebook", "--keep-data"])
    assert not kept.exists()  # a student's first run starts from an empty runs folder


def test_committed_results_md_table_is_that_of_the_committed_json_files():
    """No hand-edited time: the RESULTS.md section is what benchmarks/results/notebook_times/ renders."""
    repo = Path(notebook_times.__file__).resolve().parents[1]
    folder = repo / "benchmarks" / "results" / "notebook_times"
    records = [json.loads((folder / f).read_text()) for f in ("cpu_generated.json", "cpu_real_subset.json")]
    assert notebook_times.render(records) in (repo / "benchmarks" / "RESULTS.md").read_text()
