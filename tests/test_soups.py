"""Model soups (soups.py): the mean of several networks' weights, BatchNorm re-estimated on training images."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from faceattr_nb import soups, train
from faceattr_nb.data.loaders import batches
from tests.helpers import toy_cache
from tests.test_train import Tiny

torch.set_num_threads(1)


class TinyBN(nn.Module):
    """A small CNN of the model contract with one BatchNorm layer."""

    def __init__(self, num_attrs=40):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.head = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, num_attrs))

    def forward(self, x):
        return {"logits": self.head(self.bn(self.conv(x)))}


def nets(n: int = 3) -> list[nn.Module]:
    torch.manual_seed(0)
    out = []
    for _ in range(n):
        m = TinyBN()
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.num_batches_tracked.fill_(len(out) + 5)
        out.append(m.eval())
    return out


def test_average_weights_is_the_mean_of_every_weight_and_leaves_the_runs_alone():
    a, b = nets(2)
    before = {k: v.clone() for k, v in a.state_dict().items()}
    soup = soups.average_weights([a, b])
    for key, value in soup.state_dict().items():
        if value.is_floating_point():  # eq. 1, the running statistics included
            torch.testing.assert_close(value, (a.state_dict()[key] + b.state_dict()[key]) / 2)
    assert soup.bn.num_batches_tracked.item() == a.bn.num_batches_tracked.item()  # an integer: the first run's
    for key, value in a.state_dict().items():
        assert torch.equal(value, before[key])
    weighted = soups.average_weights([a, b], [0.25, 0.75])
    torch.testing.assert_close(weighted.conv.weight, 0.25 * a.conv.weight + 0.75 * b.conv.weight)
    cache = toy_cache(16)
    np.testing.assert_allclose(train.predict(soups.average_weights([a]), cache), train.predict(a, cache), atol=1e-6)


def test_bad_soups_say_what_is_wrong():
    a, b = nets(2)
    with pytest.raises(ValueError, match="no model to average"):
        soups.average_weights([])
    with pytest.raises(ValueError, match="one weight per model, summing to 1"):
        soups.average_weights([a, b], [0.5, 0.6])
    with pytest.raises(ValueError, match="one weight per model"):
        soups.average_weights([a, b], [1.0])
    with pytest.raises(ValueError, match="one architecture"):
        soups.average_weights([a, Tiny()])


def test_refreshed_batchnorm_holds_the_statistics_of_the_training_images():
    (model,) = nets(1)
    cache = toy_cache(48)
    soups.refresh_batchnorm(model, cache, batch_size=16)
    assert not model.training
    with torch.no_grad():  # the mean of the conv outputs over all training images, per channel
        features = torch.cat([model.conv(x) for x, _ in batches(cache, 16)])
    torch.testing.assert_close(model.bn.running_mean, features.mean((0, 2, 3)), atol=1e-5, rtol=1e-4)
    plain = Tiny().eval()  # no BatchNorm: nothing to refresh
    before = [p.clone() for p in plain.parameters()]
    soups.refresh_batchnorm(plain, cache)
    assert all(torch.equal(p, q) for p, q in zip(before, plain.parameters()))


class Stubborn(TinyBN):
    """Dropout before its BatchNorm, and a ``train()`` that keeps the BatchNorm in inference mode (as
    XceptionTransfer's frozen-statistics phase 2 does)."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.9)

    def forward(self, x):
        return {"logits": self.head(self.bn(self.drop(self.conv(x))))}

    def train(self, mode: bool = True):
        super().train(mode)
        self.bn.eval()
        return self


def test_refresh_runs_only_the_batchnorm_in_training_mode():
    torch.manual_seed(0)
    model = Stubborn().train()
    cache = toy_cache(48)
    soups.refresh_batchnorm(model, cache, batch_size=16)
    with torch.no_grad():  # dropout off: the statistics of what the network sees at inference
        features = torch.cat([model.conv(x) for x, _ in batches(cache, 16)])
    torch.testing.assert_close(model.bn.running_mean, features.mean((0, 2, 3)), atol=1e-5, rtol=1e-4)
    assert model.bn.momentum == 0.1 and not model.training


def test_interpolation_ends_at_each_run_and_uniform_soup_is_its_middle():
    a, b = nets(2)
    cache = toy_cache(32)
    for alpha, end in ((0.0, a), (1.0, b)):
        line = soups.interpolate(a, b, alpha, cache, batch_size=16)
        torch.testing.assert_close(line.conv.weight, end.conv.weight)
    middle = soups.interpolate(a, b, 0.5, cache, batch_size=16)
    soup = soups.uniform_soup([a, b], cache, batch_size=16)
    np.testing.assert_allclose(train.predict(middle, cache), train.predict(soup, cache), atol=1e-6)


def test_greedy_soup_starts_from_the_best_run_and_never_falls_below_it_on_val():
    models = nets(3)
    train_cache, val = toy_cache(32), toy_cache(32, seed=1)
    scores = [soups.accuracy(m, val) for m in models]
    soup, chosen = soups.greedy_soup(models, train_cache, val, batch_size=16)
    assert chosen[0] == int(np.argmax(scores)) and len(set(chosen)) == len(chosen)
    assert soups.accuracy(soup, val) >= max(scores)
    if len(chosen) > 1:  # what it kept is the soup of those runs
        again = soups.uniform_soup([models[i] for i in chosen], train_cache, batch_size=16)
        np.testing.assert_allclose(train.predict(again, val), train.predict(soup, val), atol=1e-6)


def test_greedy_soup_keeps_a_run_only_when_val_accuracy_does_not_fall(monkeypatch):
    models = nets(3)
    for model, value in zip(models, (0.0, 2.0, 0.5)):
        nn.init.constant_(model.conv.weight, value)
    # a stand-in val accuracy that peaks where the conv weights average 0.375: the runs score 0.625, -0.625, 0.875
    monkeypatch.setattr(soups, "accuracy", lambda m, cache, batch_size=64: 1 - abs(m.conv.weight.mean().item() - 0.375))
    soup, chosen = soups.greedy_soup(models, toy_cache(16), toy_cache(16, seed=1), batch_size=16)
    # best first (0.5: 0.875); with the 0.0 run the mean is 0.25, level (0.875): kept; with the 2.0 run 0.83: dropped
    assert chosen == [2, 0]
    torch.testing.assert_close(soup.conv.weight, torch.full_like(soup.conv.weight, 0.25))


def test_greedy_soup_orders_the_runs_by_the_val_scores_it_is_given_and_scores_only_its_candidates(monkeypatch):
    models, measured = nets(3), []
    real = soups.accuracy
    monkeypatch.setattr(soups, "accuracy", lambda m, cache, batch_size=64: measured.append(m) or real(m, cache))
    train_cache, val = toy_cache(16), toy_cache(16, seed=1)
    soup, chosen = soups.greedy_soup(models, train_cache, val, batch_size=16, scores=[0.1, 0.9, 0.5])
    assert chosen[0] == 1  # the given scores rank the runs: the caller's predictions are not measured again
    assert len(measured) == 2 and not any(m is run for m in measured for run in models)  # the two candidate soups
    if chosen == [1]:
        assert soup is models[1]
    with pytest.raises(ValueError, match="2 val scores for 3 models"):
        soups.greedy_soup(models, train_cache, val, batch_size=16, scores=[0.1, 0.2])
