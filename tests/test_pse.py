"""PSE-DMTL (models/pse.py): PAP, both excitation forms, the 8 groups, the contract."""
import warnings

import pytest
import torch
import torch.nn as nn

from faceattr_nb import models
from faceattr_nb.attributes import ATTRIBUTES, GROUP_NAMES, GROUPS
from faceattr_nb.models.losses import softmax_ce_per_attr
from faceattr_nb.models.pse import PAP, PSE, PSEDMTL, AlexNetSmall, feature_size

torch.set_num_threads(1)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_pap_is_the_channel_mean():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 4, 3)
    z = PAP()(x)
    assert z.shape == (2, 1, 4, 3)
    manual = sum(x[:, j] for j in range(5)) / 5  # eq. (1), position by position
    torch.testing.assert_close(z[:, 0], manual)


@pytest.mark.parametrize("form", ["fc", "conv"])
def test_pse_mask_in_unit_interval_and_reweights_every_channel(form):
    torch.manual_seed(0)
    x = torch.randn(3, 32, 6, 5)
    pse = PSE(32, form, size=(6, 5))
    y, s = pse(x)
    assert s.shape == (3, 1, 6, 5)
    assert bool(((s > 0) & (s < 1)).all())
    torch.testing.assert_close(y, x * s)  # eq. (3): one weight per position, all channels


def test_conv_form_has_fewer_parameters_than_fc_form():
    fc, conv = PSE(64, "fc", size=(8, 8)), PSE(64, "conv")
    # (a): 64 -> 4 -> 64 positions; (b): 3x3 conv to 4 channels, 1x1 conv to 1
    assert n_params(fc) == (64 * 4 + 4) + (4 * 64 + 64)
    assert n_params(conv) == (9 * 4 + 4) + (4 + 1)
    a = models.create("pse_dmtl", pse="fc", img_size=48)
    b = models.create("pse_dmtl", pse="conv", img_size=48)
    base = models.create("pse_dmtl", pse=None, img_size=48)
    assert n_params(base) < n_params(b) < n_params(a)


def test_fc_form_needs_its_size_and_conv_form_takes_any():
    with pytest.raises(ValueError, match="size"):
        PSE(16, "fc")
    with pytest.raises(ValueError, match="img_size"):
        PSE(16, "fc", size=(4, 4))(torch.randn(1, 16, 6, 6))
    _, s = PSE(16, "conv")(torch.randn(1, 16, 7, 3))
    assert s.shape == (1, 1, 7, 3)
    with pytest.raises(ValueError, match="'conv'"):
        models.create("pse_dmtl", pse="attention")


def test_groups_cover_the_40_attributes_once():
    members = [a for g in GROUP_NAMES for a in GROUPS[g]]
    assert len(GROUP_NAMES) == 8
    assert sorted(members) == sorted(ATTRIBUTES) and len(members) == 40
    bad = {**GROUPS, "Neck": ["Wearing_Necklace"]}
    with pytest.raises(ValueError, match="Wearing_Necktie"):
        PSEDMTL(AlexNetSmall(), groups=bad)


def test_logits_come_out_in_attributes_order():
    model = models.create("pse_dmtl", pse="conv", img_size=32).eval()
    # every classifier answers a constant: (0, index of its attribute in ATTRIBUTES)
    with torch.no_grad():
        for g, net in zip(GROUP_NAMES, model.subnets):
            last = net.classifier[-1]
            last.weight.zero_()
            last.bias.copy_(torch.tensor([[0.0, ATTRIBUTES.index(a)] for a in GROUPS[g]]).flatten())
        out = model(torch.randn(2, 3, 32, 32))
    assert torch.equal(out["logits"], torch.arange(40.0).expand(2, 40))


@pytest.mark.parametrize("pse", ["conv", "fc", None])
def test_forward_losses_and_backward(pse):
    torch.manual_seed(0)
    model = models.create("pse_dmtl", pse=pse, img_size=48)
    x, y = torch.randn(2, 3, 48, 48), (torch.rand(2, 40) > 0.5).float()
    out = model(x)
    assert out["logits"].shape == (2, 40) and out["logits2"].shape == (2, 40, 2)
    if pse is None:
        assert "masks" not in out
    else:
        assert out["masks"].shape == (2, 8, 6, 6)
        assert bool(((out["masks"] > 0) & (out["masks"] < 1)).all())
    losses = model.losses(out, y)
    torch.testing.assert_close(losses["total"], softmax_ce_per_attr(out["logits2"], y).sum())
    per_group = sum(v for k, v in losses.items() if k != "total")
    torch.testing.assert_close(per_group, losses["total"])
    losses["total"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_size_probe_leaves_batch_norm_statistics_alone():
    trunk = AlexNetSmall()
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    assert feature_size(trunk, 40) == (5, 5) and trunk.training
    assert all(torch.equal(before[k], v) for k, v in trunk.state_dict().items())


def test_missing_weights_file_is_named():
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        models.create("pse_dmtl", backbone="alexnet_small", weights="nowhere.pth")


def test_alexnet_small_loads_a_local_weights_file(tmp_path):
    torch.manual_seed(2)
    ref = AlexNetSmall()
    torch.save(ref.state_dict(), tmp_path / "trunk.pth")
    model = models.create("pse_dmtl", pse=None, weights=str(tmp_path / "trunk.pth"), img_size=32)
    for k, v in ref.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k


@pytest.mark.parametrize("pse", [None, "fc", "conv"])
def test_se_net_family_of_table_1_at_the_papers_256_px(pse):
    """PSE's "-SE" columns: the gpu profile's legacy_seresnet18 trunk (cut at stride 16) with each form."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights: no download here
        model = models.create("pse_dmtl", pse=pse, backbone="legacy_seresnet18", img_size=256, width=16, hidden=16)
    assert any(type(m).__name__ == "SEModule" for m in model.backbone.modules())  # squeeze-excitation inside
    assert model.backbone.reduction == 16
    out = model.eval()(torch.zeros(1, 3, 256, 256))
    assert out["logits"].shape == (1, 40)
    if pse is not None:
        assert out["masks"].shape[-2:] == (16, 16)  # one mask value per position of the 16x16 map
