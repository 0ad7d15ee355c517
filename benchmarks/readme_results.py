"""Write the README's results at a glance from the shipped real-subset results.

    PYTHONPATH=$PWD python benchmarks/readme_results.py [--readme README.md] [--results DIR]

The table between ``<!-- measured:begin -->`` and ``<!-- measured:end -->`` in README.md is
``faceattr_nb.measured.readme_section``: each model's run chosen on validation, from the JSON files of
``benchmarks/real_subset.py`` (default: ``benchmarks/results/real_subset/``). Run it after that script adds
a result; ``tests/test_measured.py`` fails while README.md and the files disagree.
"""
import argparse
from pathlib import Path

from results_md import replace_section  # benchmarks/results_md.py, beside this script

from faceattr_nb import measured

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", type=Path, default=HERE.parent / "README.md")
    ap.add_argument("--results", type=Path, default=measured.REAL_SUBSET_RESULTS)
    args = ap.parse_args(argv)
    text = args.readme.read_text()
    if measured.README_BEGIN not in text or measured.README_END not in text:
        raise SystemExit(f"{args.readme} has no {measured.README_BEGIN} ... {measured.README_END} block: put "
                         "the two markers where the table belongs, then run this again")
    replace_section(args.readme, measured.README_BEGIN, measured.README_END,
                    measured.readme_section(measured.real_subset_runs(args.results)))
    print(f"wrote the results table of {args.readme} from {args.results}")
    return args.readme


if __name__ == "__main__":
    main()
