"""Notebook 03's models: the transfer model (models/xception.py) and the from-scratch CNN (models/scratch_cnn.py).

A tiny timm backbone ("test_resnet", 0.37 M parameters, with BatchNorm) stands
in for legacy_xception so every test runs in about a second on the CPU.
"""
import warnings

import pytest
import torch
import torch.nn as nn

from faceattr_nb import models, train
from faceattr_nb.models.scratch_cnn import REPORT_PARAMS
from tests.helpers import toy_cache

torch.set_num_threads(1)
TINY = "test_resnet"


def tiny_xception(backbone: str = TINY, **kw) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the random-backbone warning, tested below
        return models.create("xception", backbone=backbone, **kw)


def state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def sgd_steps(model: nn.Module, steps: int = 3, size: int = 32, lr: float = 0.1) -> None:
    torch.manual_seed(0)
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        x, y = torch.randn(4, 3, size, size), (torch.rand(4, 40) < 0.3).float()
        loss = model.losses(model(x), y)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("name, kw, size", [("xception", {"backbone": TINY}, 32),
                                            ("scratch_cnn", {}, 48)])
def test_logits_shape_losses_and_finite_grads(name, kw, size):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = models.create(name, **kw)
    out = model(torch.randn(2, 3, size, size))
    assert out["logits"].shape == (2, 40)
    losses = model.losses(out, (torch.rand(2, 40) < 0.5).float())
    assert set(losses) == {"bce", "total"}
    losses["total"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_scratch_cnn_has_the_reports_layer_and_parameter_counts():
    model = models.create("scratch_cnn")
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(nn.Conv2d) == 10 and kinds.count(nn.MaxPool2d) == 5 and kinds.count(nn.Linear) == 3
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())  # "no drop-out layers"
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == REPORT_PARAMS == 1_711_624
    h = model.features(torch.zeros(1, 3, 150, 150))
    assert h.shape == (1, 128, 4, 4)  # the report's input: the adaptive pool is the identity
    torch.testing.assert_close(model.pool(h), h)
    assert model(torch.zeros(1, 3, 299, 299))["logits"].shape == (1, 40)


def test_scratch_cnn_starts_as_keras_does():
    torch.manual_seed(0)
    for m in models.create("scratch_cnn").modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
            bound = (6 / (fan_in + fan_out)) ** 0.5  # Glorot uniform
            assert m.weight.abs().max() <= bound and m.weight.abs().max() > 0.9 * bound
            assert not m.bias.any()


def test_xception_head_is_gap_dropout_dense40():
    model = tiny_xception(drop_rate=0.5)
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == 0.5
    assert model.fc.in_features == model.backbone.num_features and model.fc.out_features == 40
    assert model(torch.zeros(2, 3, 48, 48))["features"].shape == (2, model.backbone.num_features)


def test_drop_path_rate_skips_residual_blocks_in_training_only():
    model = tiny_xception(backbone="tf_efficientnet_lite0", drop_rate=0.0, drop_path_rate=0.3)
    rates = [m.drop_prob for m in model.backbone.modules() if type(m).__name__ == "DropPath"]
    assert rates and max(rates) == pytest.approx(0.3, abs=0.02) and rates == sorted(rates)  # deeper, more often
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    torch.testing.assert_close(model(x)["logits"], model(x)["logits"])  # inference: every block runs
    model.train()
    torch.manual_seed(0)
    assert not torch.allclose(model(x)["logits"], model(x)["logits"])  # training: other blocks each pass
    with pytest.raises(ValueError, match="no stochastic depth"):
        tiny_xception(backbone="legacy_xception", drop_path_rate=0.2)


def test_backbone_with_a_hidden_head_layer():
    model = tiny_xception(backbone="mobilenetv3_small_050")  # pools 288 channels, then a 1024-unit layer
    assert model.fc.in_features == 1024
    assert model(torch.zeros(2, 3, 48, 48))["logits"].shape == (2, 40)


def test_frozen_phase_leaves_backbone_unchanged_and_phase2_changes_it():
    torch.manual_seed(0)
    model = tiny_xception().freeze_backbone()
    before, head = state(model.backbone), state(model.fc)
    sgd_steps(model)
    assert model.training and not model.backbone.training  # BatchNorm in inference mode
    for k, v in model.backbone.state_dict().items():  # weights and BatchNorm running statistics
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert not torch.equal(model.fc.weight, head["weight"])

    model.unfreeze_backbone()  # the Keras guide: weights learn, BatchNorm stays in inference mode
    sgd_steps(model, lr=0.01)
    assert model.training and not model.backbone.training
    bn = model.backbone.conv1[1]
    torch.testing.assert_close(bn.running_mean, before["conv1.1.running_mean"], rtol=0, atol=0)
    changed = [k for k, v in model.backbone.named_parameters() if not torch.equal(v, before[k])]
    # timm zero-initialises the last BatchNorm of each residual block, so a few tensors
    # upstream of it get no gradient in three steps; the rest must move.
    assert "conv1.0.weight" in changed and len(changed) > 0.8 * len(list(model.backbone.parameters()))


def test_head_follows_the_keras_guide_by_default():
    model = tiny_xception()
    assert model.dropout.p == 0.2  # the guide's Dropout(0.2); the report gives no rate


def test_random_base_fine_tunes_with_batch_statistics():
    model = tiny_xception().freeze_backbone(bn_eval=False).unfreeze_backbone(bn_eval=False)
    stats = model.backbone.conv1[1].running_mean.clone()
    sgd_steps(model)
    assert model.backbone.training and not torch.equal(model.backbone.conv1[1].running_mean, stats)


def test_frozen_random_base_can_keep_batch_statistics():
    model = tiny_xception().freeze_backbone(bn_eval=False)
    params = {k: v.detach().clone() for k, v in model.backbone.named_parameters()}
    stats = model.backbone.conv1[1].running_mean.clone()
    sgd_steps(model)
    assert model.backbone.training  # BatchNorm normalises with batch statistics and records them
    assert not torch.equal(model.backbone.conv1[1].running_mean, stats)
    for k, v in model.backbone.named_parameters():
        assert not v.requires_grad and torch.equal(v, params[k])


def test_two_phase_fit_freezes_then_fine_tunes(tmp_path):
    cache = toy_cache(n=32, size=32)
    model = tiny_xception().freeze_backbone()
    before = state(model.backbone)
    cfg = train.TrainConfig(epochs=1, batch_size=8, lr=1e-2, patience=5, min_delta=0.01, seed=0)
    run = train.fit(model, cache, cache, cfg, name="frozen", runs_dir=tmp_path, progress=False)
    assert run.record["trainable_params"] == sum(p.numel() for p in model.fc.parameters())
    for k, v in model.backbone.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)

    model.unfreeze_backbone()
    cfg2 = train.TrainConfig(epochs=1, batch_size=8, lr=1e-3, seed=0)  # phase 2: lr x 0.1
    run2 = train.fit(model, cache, cache, cfg2, name="finetune", runs_dir=tmp_path, progress=False)
    assert run2.record["trainable_params"] == run2.record["params"]
    assert not torch.equal(model.backbone.conv1[0].weight, before["conv1.0.weight"])


def test_random_backbone_says_it_is_not_transfer_learning():  # the other weights paths: test_backbones.py
    with pytest.warns(UserWarning, match="RANDOM weights.*not transfer learning"):
        models.create("xception", backbone=TINY)


def test_fine_tuning_can_keep_the_stored_batchnorm_statistics():
    model = tiny_xception().freeze_backbone().unfreeze_backbone(bn_eval=True)
    stats = state(model.backbone)
    params = {k: v.detach().clone() for k, v in model.backbone.named_parameters()}
    sgd_steps(model, lr=0.01)
    assert model.training and not model.backbone.training
    running = [k for k in stats if "running_" in k]
    assert running and all(torch.equal(model.backbone.state_dict()[k], stats[k]) for k in running)
    assert not torch.equal(model.backbone.conv1[0].weight, params["conv1.0.weight"])  # the weights do train
