"""GAL (models/gal.py): the separated gradient streams, the attention, GAL-p's prior, GAL-c's frozen FLN."""
import numpy as np
import pytest
import torch

from faceattr_nb import analysis, models, train
from faceattr_nb.attributes import ATTRIBUTES, GROUPS, group_of
from faceattr_nb.models.gal import group_prior
from tests.helpers import toy_cache

torch.set_num_threads(1)
SIZE = 32  # smoke-sized input: alexnet_small gives 4x4 feature maps


def build(variant: str, seed: int = 0, **kw):
    torch.manual_seed(seed)
    return models.create("gal", variant=variant, img_size=SIZE, branch_channels=8, node_dim=4, **kw)


def batch(n: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, SIZE, SIZE, generator=g), (torch.rand(n, 40, generator=g) < 0.3).float()


@pytest.mark.parametrize("variant", ["baseline", "c", "j", "p"])
def test_shapes_losses_and_finite_gradients(variant):
    model = build(variant)
    if variant == "c":
        model.load_fln(build("baseline", seed=1).state_dict())
    x, y = batch()
    out = model(x)
    assert out["logits"].shape == out["logits_f"].shape == (4, 40)
    assert out["logits2"].shape == (4, 40, 2) and out["masks"].shape == (4, 40, 4, 4)
    assert ("affinity" in out) == (variant != "baseline")
    if variant != "baseline":
        assert out["affinity"].shape == (4, 40, 40)
    losses = model.losses(out, y)
    expected = {"L_f", "total"} if variant == "baseline" else {"L_f", "L_c", "total"}
    assert set(losses) == expected
    assert all(torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert (model.cln is None) == (variant == "baseline")


def test_baseline_and_final_logits_come_from_the_right_net():
    out = build("baseline")(batch()[0])
    torch.testing.assert_close(out["logits"], out["logits_f"])
    out = build("j")(batch()[0])
    assert not torch.allclose(out["logits"], out["logits_f"])  # GAL-j predicts with the CLN


def test_gal_j_streams_are_separated():
    model = build("j")
    x, y = batch()
    model.losses(model(x), y)["L_f"].backward()
    assert all(p.grad is None for p in model.cln.parameters())
    assert all(p.grad is not None for p in model.fln.parameters())
    model.zero_grad(set_to_none=True)
    model.losses(model(x), y)["L_c"].backward()
    assert all(p.grad is None for p in model.fln.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.cln.parameters())


@pytest.mark.parametrize("scale", [None, "sqrt_d", 10.0])
def test_affinity_rows_sum_to_one(scale):
    out = build("j", affinity_scale=scale)(batch()[0])
    a = out["affinity"]
    assert bool((a >= 0).all())
    torch.testing.assert_close(a.sum(-1), torch.ones(4, 40))


def test_gal_p_prior_is_table_1():
    prior = group_prior()
    torch.testing.assert_close(prior.sum(1), torch.ones(40))
    for i, a in enumerate(ATTRIBUTES):
        for j, b in enumerate(ATTRIBUTES):
            same = group_of(a) == group_of(b)
            expected = 1 / len(GROUPS[group_of(a)]) if same else 0.0
            assert prior[i, j].item() == pytest.approx(expected), (a, b)
    assert int((prior > 0).sum()) == sum(len(m) ** 2 for m in GROUPS.values())
    out = build("p")(batch()[0])
    torch.testing.assert_close(out["affinity"], prior.expand(4, -1, -1))


def test_scaled_affinity_is_less_saturated_than_published():
    x = batch(seed=1)[0]
    entropy = {}
    for scale in (None, "sqrt_d"):
        torch.manual_seed(3)  # the same weights: only the divisor of A differs
        model = models.create("gal", variant="j", img_size=SIZE, affinity_scale=scale)  # d = 16*4*4
        entropy[scale] = analysis.row_entropy(model(x)["affinity"]).mean()  # batch-norm in training mode
    assert entropy[None] < 0.1  # as published the rows are nearly one-hot: each node attends to itself
    assert entropy["sqrt_d"] > 0.5


def test_bad_options_say_what_to_use():
    with pytest.raises(ValueError, match="variant"):
        build("x")
    with pytest.raises(ValueError, match="sqrt_d"):
        build("j", affinity_scale="sqrt")


def test_gal_c_loads_the_baseline_and_keeps_the_fln_unchanged(tmp_path):
    data, val = toy_cache(16, size=SIZE), toy_cache(8, size=SIZE, seed=1)
    cfg = train.TrainConfig(epochs=1, batch_size=4, lr=1e-2, optimizer="adam", max_steps_per_epoch=2)
    base = build("baseline", seed=1)
    run = train.fit(base, data, val, cfg, name="gal_baseline", runs_dir=tmp_path, progress=False)

    model = build("c", seed=2).load_fln(run.path.parent)  # the run folder (its model.pt)
    fln_before = {k: v.clone() for k, v in model.fln.state_dict().items()}
    for k, v in base.fln.state_dict().items():
        torch.testing.assert_close(fln_before[k], v.cpu())
    cln_before = {k: v.clone() for k, v in model.cln.state_dict().items()}
    run_c = train.fit(model, data, val, cfg, name="gal_c", runs_dir=tmp_path, progress=False)

    for k, v in model.fln.state_dict().items():  # weights and batch-norm statistics
        torch.testing.assert_close(v, fln_before[k], rtol=0, atol=0)
    assert any(not torch.equal(v, cln_before[k]) for k, v in model.cln.state_dict().items())
    assert run_c.record["trainable_params"] == sum(p.numel() for p in model.cln.parameters())
    assert "train_L_c" in run_c.history and "train_L_f" in run_c.history


def test_gal_c_without_a_loaded_fln_is_an_error():
    x = batch()[0]
    with pytest.raises(RuntimeError, match="load_fln"):
        build("c")(x)  # a random frozen FLN would train silently
    state = build("c", seed=1).load_fln(build("baseline").state_dict()).state_dict()
    restored = build("c", seed=2)
    restored.load_state_dict(state)  # a whole GAL-c checkpoint (train.load_model, resume) holds its FLN
    assert restored(x)["logits"].shape == (4, 40)


def test_wrong_input_size_says_what_to_do():
    model = build("j")
    with pytest.raises(ValueError, match=f"built for {SIZE}x{SIZE}.*img_size="):
        model(torch.randn(2, 3, 2 * SIZE, 2 * SIZE))


def test_load_fln_accepts_a_state_dict_with_or_without_prefix():
    base = build("baseline", seed=1)
    for state in (base.state_dict(), base.fln.state_dict()):
        model = build("c", seed=2).load_fln(state)
        torch.testing.assert_close(model.fln.state_dict(), base.fln.state_dict())
    with pytest.raises(FileNotFoundError, match="gal_baseline"):
        build("c").load_fln("no/such/run")


def test_affinity_agreement_and_entropy():
    rng = np.random.default_rng(0)
    corr = np.corrcoef(rng.random((50, 6)), rowvar=False)
    assert analysis.affinity_agreement(corr + 1, corr) == pytest.approx(1.0)
    assert analysis.affinity_agreement(-corr, corr) == pytest.approx(-1.0)
    assert np.isnan(analysis.affinity_agreement(np.full((6, 6), 1 / 6), corr))
    np.testing.assert_allclose(analysis.row_entropy(np.eye(4)), 0.0, atol=1e-12)
    np.testing.assert_allclose(analysis.row_entropy(np.full((4, 4), 0.25)), 1.0)


def test_mean_output_averages_the_affinity_over_a_cache():
    model = build("p")
    mean = analysis.mean_output(model, toy_cache(6, size=SIZE), batch_size=4)
    np.testing.assert_allclose(mean, group_prior().numpy(), atol=1e-6)
    with pytest.raises(KeyError, match="affinity"):
        analysis.mean_output(build("baseline"), toy_cache(2, size=SIZE))


def test_top_pairs_ranks_the_symmetrised_affinity():
    m = np.full((4, 4), 0.1)
    m[0, 2], m[2, 0], m[1, 3] = 0.5, 0.3, 0.35
    corr = np.eye(4)
    corr[0, 2] = 0.7
    pairs = analysis.top_pairs(m, corr, k=2, attrs=list("abcd"))
    assert pairs[["attr_a", "attr_b"]].values.tolist() == [["a", "c"], ["b", "d"]]
    assert pairs["weight"].tolist() == pytest.approx([0.4, 0.225])
    assert pairs["phi"].tolist() == pytest.approx([0.7, 0.0])
