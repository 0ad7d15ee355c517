"""Two saved runs of ``benchmarks/real_subset.py`` on the same test faces: A minus B, with a paired interval.

    PYTHONPATH=$PWD python benchmarks/paired.py RUN_A RUN_B [--data DIR]

RUN_A and RUN_B are run folders the benchmark wrote under ``--runs`` (``rs_<json stem>_s<seed>[_finetune]``).
Both models are scored at threshold 0.5 on (a) the aligned official-test faces and (b) the unaligned crops,
each on the images it was trained on (its input side and frame, ``real_subset.run_input``: a 160 px run
against a 192 px one, or the centre square against the whole frame, is scored on the same faces), and
``metrics.paired_difference_ci`` resamples the same test identities for both, so the interval is that
of the difference: much narrower than the two models' own intervals. For runs on the RGB faces (every spec
but facenet40, whose gray crops are another input).
"""
import argparse
from pathlib import Path

from real_subset import default_data, run_input, test_splits  # benchmarks/real_subset.py, beside this script

from faceattr_nb import config, metrics, train
from faceattr_nb.data.splits import load_splits


def paired(run_a: Path, run_b: Path, setup: config.Setup) -> dict[str, dict[str, float]]:
    """{split: {"mean", "low", "high", "n_groups"}} of accuracy(A) - accuracy(B) on each test split."""
    inputs = [run_input([run]) for run in (run_a, run_b)]
    data = {key: load_splits(setup, img_size=key[0], square=key[1] == "square", splits=("test", "test_b"))
            for key in dict.fromkeys(inputs)}  # one image list, read at each run's size and frame
    (a, da), (b, db) = ((train.load_model(run), data[key]) for run, key in zip((run_a, run_b), inputs))
    return {split: metrics.paired_difference_ci(da[split].y.numpy(), train.predict(a, da[split]),
                                                train.predict(b, db[split]), da[split].identity)
            for split in test_splits(da)}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--data", default=default_data(), help="the folder the runs were trained on (default: %(default)s)")
    ap.add_argument("--profile", default="cpu", help="the profile the runs were trained with (default: cpu)")
    args = ap.parse_args(argv)
    setup = config.resolve(profile=args.profile, data=args.data, runs_dir=args.run_a.parent)
    result = paired(args.run_a, args.run_b, setup)
    for split, d in result.items():
        print(f"{split}: A - B = {100 * d['mean']:+.2f} points [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] "
              f"over {d['n_groups']} identities")
    return result


if __name__ == "__main__":
    main()
