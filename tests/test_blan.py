"""BLAN (models/blan.py): Tables 1-2 shapes, RDAM, LMIM, score fusion, eq. (8), the contract."""
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from faceattr_nb import models, paper_results, plots, train
from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.models.blan import LMIM, RDAM, K, feature_sides
from tests.helpers import toy_cache

torch.set_num_threads(1)
LOSS_NAMES = {*(f"cls_{i}" for i in range(1, 5)), *(f"lmim_{i}" for i in range(1, 5)), "rec", "sf", "total"}
pytestmark = pytest.mark.filterwarnings("ignore:backbone .* has RANDOM weights:UserWarning")  # test_backbones.py


def small(img_size: int = 48, **kw) -> nn.Module:
    torch.manual_seed(0)
    return models.create("blan", backbone="resnet10t", img_size=img_size, **kw)


def batch(n: int, img_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, img_size, img_size, generator=g), (torch.rand(n, 40, generator=g) < 0.3).float()


def test_paper_size_shapes_follow_tables_1_and_2():
    torch.manual_seed(0)
    model = models.create("blan").eval()  # ResNet-34, 256x256
    assert [len(getattr(model.encoder, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert [len(b) for b in model.decoder.blocks] == [6, 4, 3]  # block_3, block_2, block_1 mirrored
    x, _ = batch(2, 256)
    with torch.no_grad():
        out = model(x)
        blocks = model.encoder(x)
        # Table 2: output of Conv-BN-ReLU_1 and _2 of each classifier
        ac_shapes = [[tuple(ac.convs[0](f).shape[1:]), tuple(ac.convs(f).shape[1:])]
                     for ac, f in zip(model.ac, out["features"])]
    # Table 1: block_1..block_4 at 64, 32, 16, 8
    assert [tuple(b.shape) for b in blocks] == [(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8)]
    assert [tuple(f.shape) for f in out["features"]] == [tuple(b.shape) for b in blocks]
    assert ac_shapes == [[(32, 16, 16), (16, 16, 16)], [(64, 16, 16), (16, 16, 16)],
                         [(128, 8, 8), (64, 8, 8)], [(256, 4, 4), (256, 4, 4)]]
    assert out["recon"].shape == x.shape
    assert out["logits"].shape == (2, 40) and out["level_logits"].shape == (2, K, 40)
    assert out["t"].shape == (2, K, 512)
    assert model.ac[0].fc1.in_features == 16 * 16 * 16 and model.ac[3].fc1.in_features == 256 * 4 * 4


@pytest.mark.parametrize("backbone,img_size", [("resnet10t", 48), ("resnet18", 64)])
def test_smoke_size_shapes_and_reconstruction(backbone, img_size):
    torch.manual_seed(0)
    model = models.create("blan", backbone=backbone, img_size=img_size)
    x, _ = batch(2, img_size)
    out = model(x)
    sides = feature_sides(img_size)
    assert [f.shape[-1] for f in out["features"]] == sides
    assert out["recon"].shape == x.shape
    assert out["logits"].shape == (2, 40) and out["level_logits"].shape == (2, K, 40)


def test_losses_are_eq_8_with_finite_gradients_everywhere():
    model = small(alpha=0.5, beta=0.2, gamma=0.7)
    x, y = batch(4, 48)
    out = model(x)
    loss = model.losses(out, y)
    assert set(loss) == LOSS_NAMES
    expected = (sum(loss[f"cls_{i}"] + 0.5 * loss[f"lmim_{i}"] for i in range(1, 5))
                + 0.2 * loss["rec"] + 0.7 * loss["sf"])
    torch.testing.assert_close(loss["total"], expected)
    torch.testing.assert_close(loss["rec"], F.mse_loss(out["recon"], x))  # eq. (1)
    loss["total"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), name


def test_classification_losses_sum_over_attributes_as_eqs_4_and_7():
    model = small()
    x, y = batch(4, 48)
    out = model(x)
    loss = model.losses(out, y)
    per_attr = F.binary_cross_entropy_with_logits(out["level_logits"][:, 0], y, reduction="none").mean(0)  # (A,)
    torch.testing.assert_close(loss["cls_1"], per_attr.sum())  # eq. (4): a sum over the 40 attributes
    fused = F.binary_cross_entropy_with_logits(out["logits"], y, reduction="none").mean(0).sum()
    torch.testing.assert_close(loss["sf"], fused)  # eq. (7)
    # so Table 6's alpha = beta = 0.1 (the defaults) weigh LMIM and reconstruction against a 40-term l_CLS
    assert (model.alpha, model.beta, model.gamma) == (0.1, 0.1, 1.0)
    cls = sum(loss[f"cls_{i}"] for i in range(1, 5)) + loss["sf"]
    aux = sum(0.1 * loss[f"lmim_{i}"] for i in range(1, 5)) + 0.1 * loss["rec"]
    torch.testing.assert_close(loss["total"], cls + aux)  # eq. (8)
    assert loss["cls_1"] > 10 * loss["lmim_1"]  # about 40 ln 2 against a BCE near ln 2 at the start


def test_paper_size_parameter_count_and_what_the_rdam_kernel_costs():
    torch.manual_seed(0)
    table = models.create("blan").parameter_table()  # ResNet-34, 256 px
    assert table["encoder"] == 21_284_672  # ResNet-34 without its pooling and fc
    assert table["ac"] == 10_149_152        # Table 2
    assert table["decoder"] == 9_437_827 and table["rdam"] == 184_453  # 1x1 RDAM convolution
    assert table["inference"] == 41_056_304  # docstring: 41.06 M against the paper's 38.34 M
    wide = models.create("blan", rdam_kernel=3).parameter_table()
    assert wide["inference"] - table["inference"] == 1_376_256  # the 3x3 convolution of earlier versions


def test_fusion_starts_as_the_mean_of_the_level_scores():
    model = small().eval()
    x, _ = batch(2, 48)
    with torch.no_grad():
        out = model(x)
    torch.testing.assert_close(out["logits"], out["level_logits"].mean(1))


def test_rdam_adds_the_encoder_feature():
    torch.manual_seed(0)
    rdam = RDAM(16)
    f_enc, f_dec = torch.randn(2, 16, 5, 5), torch.randn(2, 16, 5, 5)
    out = rdam(f_enc, f_dec)
    assert out.shape == f_enc.shape
    nn.init.zeros_(rdam.conv[1].weight)  # F_conv = ReLU(BN(.)) = 0, so F_spt = 0 and F_attn = F_enc
    torch.testing.assert_close(rdam(f_enc, f_dec), f_enc)


def test_rdam_attention_orders_of_table_5():
    """Chn-Spt is eqs. (2)-(3) in that order; Spt-Chn swaps them; parallel pools both from F_conv."""
    torch.manual_seed(0)
    f_enc, f_dec = torch.randn(2, 16, 5, 5), torch.randn(2, 16, 5, 5)
    rdams = {order: RDAM(16, order=order) for order in ("chn_spt", "spt_chn", "parallel")}
    for r in rdams.values():  # the same weights in all three: only the order differs
        r.load_state_dict(rdams["chn_spt"].state_dict())
        r.eval()
    base = rdams["chn_spt"]
    f_conv = base.conv(torch.cat([f_enc, f_dec], 1))

    def chn(f):
        return f * torch.sigmoid(base.mlp(f.mean((2, 3), keepdim=True)) + base.mlp(f.amax((2, 3), keepdim=True)))

    def spt(f):
        return f * torch.sigmoid(base.conv_f(torch.cat([f.mean(1, keepdim=True), f.amax(1, keepdim=True)], 1)))

    torch.testing.assert_close(rdams["chn_spt"](f_enc, f_dec), spt(chn(f_conv)) + f_enc)
    torch.testing.assert_close(rdams["spt_chn"](f_enc, f_dec), chn(spt(f_conv)) + f_enc)
    both = chn(f_conv) * torch.sigmoid(base.conv_f(torch.cat([f_conv.mean(1, keepdim=True),
                                                              f_conv.amax(1, keepdim=True)], 1)))
    torch.testing.assert_close(rdams["parallel"](f_enc, f_dec), both + f_enc)
    assert not torch.allclose(rdams["chn_spt"](f_enc, f_dec), rdams["spt_chn"](f_enc, f_dec))
    with pytest.raises(ValueError, match="unknown RDAM attention order 'chn-spt'.*chn_spt, spt_chn, parallel"):
        RDAM(16, order="chn-spt")


def test_blan_passes_the_order_and_the_classifier_dropout_on():
    model = small(attention_order="parallel", dropout=0.0)
    assert all(r.order == "parallel" for r in model.rdam)
    assert all(ac.dropout.p == 0.0 for ac in model.ac) and all(ac.dropout.p == 0.5 for ac in small().ac)


def test_lmim_tells_real_pairs_from_shuffled_ones_after_a_few_steps():
    model = small(img_size=32)
    x, _ = batch(4, 32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def pair_losses():
        """-log sigma(score) of real and of shuffled pairs, per level: the BCE of each taken as real."""
        with torch.no_grad():
            out = model(x)
            pairs = [d.scores(f, t) for d, f, t in zip(model.lmim, out["features"], out["t"].unbind(1))]
        return [(F.softplus(-r).mean().item(), F.softplus(-f).mean().item()) for r, f in pairs]

    before = pair_losses()
    assert all(abs(r - f) < 0.05 for r, f in before)  # at the start the discriminators cannot tell
    for _ in range(15):
        out = model(x)
        loss = model.losses(out, torch.zeros(4, 40))
        opt.zero_grad()
        sum(loss[f"lmim_{i}"] for i in range(1, 5)).backward()
        opt.step()
    after = pair_losses()
    assert all(r < f - 0.05 for r, f in after), after
    assert float(loss["lmim_1"].detach()) < 0.69


def test_lmim_needs_two_images_and_alpha():
    model = small().eval()  # eval: BatchNorm takes a batch of one
    x, y = batch(1, 48)
    with torch.no_grad():
        assert float(model.losses(model(x), y)["lmim_1"]) == 0.0  # no other image to pair with
    no_lmim = small(alpha=0.0)
    assert no_lmim.lmim is None and no_lmim.parameter_table()["lmim"] == 0


def test_score_fusion_learns_while_the_rest_is_frozen():
    model = small().eval()  # eval: no dropout, no BatchNorm statistics update
    model.freeze_all_but_fusion()
    assert [p for p in model.parameters() if p.requires_grad] == model.fusion_parameters()
    before = {k: v.clone() for k, v in model.named_parameters()}
    groups = model.param_groups(1e-3, 1e-4)
    assert len(groups) == 2 and groups[1]["lr"] == 1e-4 and groups[1]["weight_decay"] == 0.0
    opt = torch.optim.Adam(groups)
    x, y = batch(4, 48)
    for _ in range(3):
        loss = model.losses(model(x), y)
        opt.zero_grad()
        loss["sf"].backward()
        opt.step()
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == (name == "sf.weight"), name


def test_trainer_gives_the_fusion_its_own_learning_rate():
    opt = train.make_optimizer(small(), train.TrainConfig(lr=1e-3, optimizer="adam"))
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-4]


def test_ablation_switches():
    x, y = batch(2, 48)
    enc = small(decoder=False, fusion=False)
    out = enc(x)
    loss = enc.losses(out, y)
    assert "recon" not in out and float(loss["rec"]) == 0.0 and float(loss["sf"]) == 0.0
    torch.testing.assert_close(out["logits"], out["level_logits"].mean(1))
    assert enc.parameter_table()["decoder"] == 0 and enc.parameter_table()["rdam"] == 0
    plain = small(rdam=False)
    assert plain(x)["features"][0].shape == (2, 64, 12, 12)
    assert not [k for k in plain.state_dict() if k.startswith("rdam") and ("mlp" in k or "conv_f" in k)]  # unused
    assert plain.parameter_table()["rdam"] < small().parameter_table()["rdam"]
    table = small().parameter_table()
    assert table["total"] == sum(p.numel() for p in small().parameters())
    assert table["inference"] == table["total"] - table["lmim"]


def test_wrong_input_size_says_what_to_do():
    with pytest.raises(ValueError, match="img_size"):
        small(img_size=48)(torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match="img_size"):
        models.create("blan", backbone="resnet10t", img_size=16)


def test_fit_records_every_named_loss(tmp_path):
    data = toy_cache(n=16, size=32)
    model = small(img_size=32)
    cfg = train.TrainConfig(epochs=1, batch_size=4, max_steps_per_epoch=2, seed=0)
    run = train.fit(model, data, data, cfg, name="blan_test", runs_dir=tmp_path, progress=False)
    assert {f"train_{k}" for k in LOSS_NAMES} <= set(run.history.columns)
    assert run.record["model"] == "blan" and run.record["params"] > 0


def test_level_accuracy_figure_draws_fig_3():
    table = pd.DataFrame(np.random.default_rng(0).uniform(0.6, 0.95, (40, 5)), index=ATTRIBUTES,
                         columns=["AC1", "AC2", "AC3", "AC4", "fused"])
    fig = plots.level_accuracy_figure(table, source="synthetic")
    assert sum(ax.get_visible() and ax.axison for ax in fig.axes) == 9
    assert "synthetic" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="Smiling"):
        plots.level_accuracy_figure(table.drop(index="Smiling"), attrs=["Smiling"])
    table.loc["Oval_Face", ["AC2", "AC3"]] = 0.99  # a tie for the best level: both bars orange
    fig = plots.level_accuracy_figure(table, attrs=["Oval_Face"], n_faces=660)
    import matplotlib.colors as mcolors
    orange = [mcolors.to_hex(bar.get_facecolor()) == mcolors.to_hex("tab:orange") for bar in fig.axes[0].patches]
    assert orange == [False, True, True, False, False]
    assert "one test face = 0.15 points" in fig._suptitle.get_text()


def test_width_scales_the_encoder_and_everything_follows():
    model = small(width=0.25, lmim_hidden=32)
    assert model.encoder.feature_info.channels() == [16, 32, 64, 128]
    x, y = batch(2, 48)
    out = model(x)
    assert [f.shape[1] for f in out["features"]] == [16, 32, 64, 128] and out["recon"].shape == x.shape
    assert torch.isfinite(model.losses(out, y)["total"])
    with pytest.raises(ValueError, match="width"):
        models.create("blan", backbone="resnet18", width=0.5, pretrained=True, img_size=48)


def test_paper_table_4_is_kept_apart_from_the_cross_paper_tables():
    table = paper_results.blan_table4().set_index("setting")
    assert table.loc["index 6", "value"] == 91.73 and table.loc["index 1", "method"] == "Enc"
    assert "blan_table4" not in paper_results.TABLES


def test_lmim_first_layer_is_a_1x1_conv_of_the_concatenation():
    torch.manual_seed(0)
    d = LMIM(16, dim=512, hidden=8)
    f, t = torch.randn(3, 16, 4, 4), torch.randn(3, 512)
    concat = nn.Conv2d(16 + 512, 8, 1)  # the paper's concat-and-convolve, written out
    with torch.no_grad():
        concat.weight.copy_(torch.cat([d.conv_f.weight, d.fc_t.weight[:, :, None, None]], 1))
        concat.bias.copy_(d.conv_f.bias)
        replicated = t[:, :, None, None].expand(-1, -1, 4, 4)  # T_i at every location
        real = d.net(concat(torch.cat([f, replicated], 1)))
        fake = d.net(concat(torch.cat([f.roll(1, 0), replicated], 1)))
        torch.testing.assert_close(d.scores(f, t), (real, fake))
