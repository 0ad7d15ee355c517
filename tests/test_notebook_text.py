"""No result number typed into a notebook's markdown, and no pointer to a folder users do not have.

The rule, for every markdown cell of notebooks/*.ipynb and notebooks/solutions/*.ipynb:

1. The cell is cut into paragraphs (blocks separated by a blank line; a heading and each list
   item are paragraphs of their own). Inline code (`...`) and math ($...$, $$...$$) are removed
   first: a formula, a line of code or a setting written as code (`threshold=0.3`) is a
   definition, not a result.
2. A paragraph holds a *measured-looking number* when it contains
   - a percentage: ``88.4 %``, ``88.4%``, ``2 %``;
   - a decimal: ``0.912``, ``90.49``, ``r = 0.73``;
   - a number of epochs: ``6 epochs``.
   These are not counted (the allow-list, ``ALLOWED``): the thresholds and levels that define
   things (0.5, 0.05, the bounds 0.0 and 1.0, the 95 % of an interval, 50 %, 100 %),
   section/equation/version numbers ("section 4.1", "eq. 2", "Python 3.11") and sizes with a
   magnitude ("0.57 M parameters", "1.2 G FLOPs"). Integers that are not percentages or epochs
   (40 attributes, 36×36 pixels, 178x218, 19,962 faces, 1e-3) are sizes and counts: allowed.
3. Such a paragraph must name its source in the same paragraph: ``Table`` or ``Fig`` (the
   paper's table or figure: "GAL Table 4", "Fig. 3"), ``paper``, ``report`` (the FaceNet or
   transfer report), or ``RESULTS.md`` (a named table of benchmarks/RESULTS.md).
   A number this notebook measures is printed by a cell, never typed: write "printed above"
   and let the output carry it ("the encoder reaches 90.49 % here" fails).

And no notebook (any cell) and no README mentions ``../shared``: users of the course have no
such folder; cite papers by authors, title, venue and link.
"""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
SOURCES = re.compile(r"Table|Fig|paper|report|RESULTS\.md", re.IGNORECASE)
CODE_AND_MATH = re.compile(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$", re.DOTALL)
ALLOWED = re.compile(
    r"(?<![\d.])(0\.5|0\.05|0\.0|1\.0|95 ?%|50 ?%|100 ?%)(?!\.?\d)"            # thresholds, levels, bounds
    r"|\b(section|sec\.|§|eqs?\.|equation|python|torch|timm|version|v)\s*\d+(\.\d+)+"  # numbering, versions
    r"|(?<![\w.])\d+(\.\d+)?\s?[kMG]\b",                                           # sizes: 0.57 M parameters
    re.IGNORECASE)
MEASURED = re.compile(
    r"(?<![\w.])\d+(\.\d+)?\s?%"           # a percentage
    r"|(?<![\w.])\d+\.\d+(?![\w.])"         # a decimal
    r"|\b\d+\s+epochs?\b",                  # a number of epochs
    re.IGNORECASE)
# Notebooks being rewritten in other branches of issue 10 when this test was written, that still
# failed here then: their failures are reported (xfail), not yet enforced. Remove a name once it passes.
PENDING_NUMBERS: set[str] = set()
PENDING_SHARED: set[str] = set()


def cases(paths: list[Path], pending: set[str]) -> list:
    return [pytest.param(p, id=p.name, marks=[pytest.mark.xfail(
        strict=False, reason="being rewritten in another branch (issue 10)")] if p.name in pending else [])
        for p in paths]


def paragraphs(markdown: str) -> list[str]:
    text = CODE_AND_MATH.sub(" ", markdown)
    blocks = []
    for block in re.split(r"\n\s*\n", text):
        blocks += [p for p in re.split(r"\n(?=#|\s*(?:[-*+]|\d+\.)\s)", block) if p.strip()]  # a heading, a list item
    return blocks


def unsourced_numbers(markdown: str) -> list[tuple[str, str]]:
    """(number, paragraph) for each paragraph with a measured-looking number and no source."""
    found = []
    for paragraph in paragraphs(markdown):
        numbers = [m.group(0) for m in MEASURED.finditer(ALLOWED.sub(" ", paragraph))]
        if numbers and not SOURCES.search(paragraph):
            found.append((numbers[0], " ".join(paragraph.split())[:160]))
    return found


def notebook_problems(path: Path) -> list[str]:
    nb = nbformat.read(path, 4)
    return [f"cell {i}: {number!r} in: {text}" for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
            for number, text in unsourced_numbers(cell.source)]


@pytest.mark.parametrize("path", cases(NOTEBOOKS, PENDING_NUMBERS))
def test_markdown_numbers_name_their_source(path):
    problems = notebook_problems(path)
    assert not problems, "numbers typed into markdown without a source:\n" + "\n".join(problems)


@pytest.mark.parametrize("text, ok", [
    ("The encoder reaches 90.49 % here.", False),
    ("The encoder reaches 90.49% here.", False),
    ("Mean accuracy 0.912 on test.", False),
    ("The profile trains for 6 epochs.", False),
    ("GAL-j reaches 91.93 % (Table 4 of the paper).", True),
    ("Our best run: 0.87, see RESULTS.md's real-subset table.", True),
    ("Predict 1 when `probs >= 0.731`; a 95 % interval; threshold 0.5.", True),
    ("Labels in {0,1}, 40 attributes, 36×36 gray faces, 178x218 images, lr 1e-3.", True),
    ("Section 4.1 describes the CNN.\n\nAbout 2 % of faces are bald.", False),
    ("- GAL Table 4 lists 91.93 %.\n- ours reaches 90.49 %", False),  # each list item names its own source
    ("Lower the threshold to `0.3` and recount.", True),
    ("$\\sigma(0.3 x)$ is the gate.", True),
    ("Xception has 20.8 M parameters; MobileNet 0.57 M.", True),
    ("It is 97.9 % accurate on Bald.", False),
])
def test_the_rule_itself(text, ok):
    assert (not unsourced_numbers(text)) == ok


@pytest.mark.parametrize("path", cases([*NOTEBOOKS, ROOT / "README.md"], PENDING_SHARED))
def test_no_pointer_to_the_shared_folder(path):
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if "../shared" in line]
    assert not lines, f"{path.name} points to ../shared, a folder users of the course do not have:\n" + \
        "\n".join(lines)
