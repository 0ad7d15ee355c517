"""Under nbmake every figure is really drawn: a figure that draws is a PNG, one that fails to draw fails the run.

Runs two tiny generated notebooks through nbmake's own runner (``nbmake.nb_run.NotebookRun``,
what ``pytest --nbmake`` does per notebook), in a kernel that inherits this process's
environment, i.e. the MPLBACKEND that the root conftest.py sets for notebook kernels.
"""
import nbformat
import pytest
from nbmake.nb_run import NotebookRun

FIGURE = """\
import matplotlib.pyplot as plt
fig = plt.figure(figsize=(2, 2))
plt.close(fig)  # as faceattr_nb.plots does: the figure renders once, as the cell's result
ax = fig.subplots()
ax.plot([0, 1], [0, 1])
ax.set_title({title!r})
fig
"""


def run_notebook(tmp_path, title: str):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FIGURE.format(title=title))])
    path = tmp_path / "figure.ipynb"
    nbformat.write(nb, path)
    return NotebookRun(path, default_timeout=120).execute()


@pytest.mark.slow
def test_a_figure_is_drawn_as_an_image(tmp_path):
    result = run_notebook(tmp_path, "a line")
    assert result.error is None
    outputs = result.nb.cells[0].outputs
    assert any("image/png" in o.get("data", {}) for o in outputs), outputs  # not just "<Figure size ...>"


@pytest.mark.slow
def test_a_figure_that_fails_to_draw_fails_the_notebook(tmp_path):
    result = run_notebook(tmp_path, r"$\frac{$")  # broken mathtext: raises only when the title is drawn
    assert result.error is not None
    assert "ValueError" in result.error.trace or "ParseException" in result.error.trace
