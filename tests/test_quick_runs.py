"""experiments.QUICK_RUNS / train_quick: the runs notebook 07 trains when notebooks 02-06 have not run."""
import pytest
import torch

from faceattr_nb import config, experiments, models
from faceattr_nb.attributes import ATTRIBUTES


def test_unknown_quick_run_names_the_known_ones(tmp_path):
    setup = config.resolve(profile="smoke", runs_dir=tmp_path, generate=False)
    with pytest.raises(ValueError, match="quick_scratch_cnn"):
        experiments.train_quick(setup, "quick_resnet")


@pytest.mark.parametrize("name", list(experiments.QUICK_RUNS))
def test_quick_models_give_40_logits(name):
    model_name, kwargs, size, gray = experiments.QUICK_RUNS[name]
    size = size or config.get_profile("smoke").img_size
    kwargs = {k: (list(ATTRIBUTES) if v is None else v) for k, v in kwargs.items()}
    if model_name == "pse_dmtl":
        kwargs["img_size"] = size
    out = models.create(model_name, **kwargs).eval()(torch.randn(2, 1 if gray else 3, size, size))
    assert out["logits"].shape == (2, 40)
