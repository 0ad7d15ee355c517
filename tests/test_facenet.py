"""The report's FaceNet: parameter count, shapes, loss weights, FLOPs, its score names."""
import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from faceattr_nb import experiments, metrics, models, train
from faceattr_nb.attributes import ATTRIBUTES

torch.set_num_threads(1)


def test_parameter_count_matches_the_report_appendix():
    m = models.create("facenet")
    trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
    bn_stats = sum(b.numel() for n, b in m.named_buffers() if "running_" in n)
    assert trainable == 21_660  # Keras: "Trainable params: 21,660"
    assert trainable + bn_stats == 21_732  # Keras counts BN moving mean/var as non-trainable params


def test_shapes_and_two_way_softmax():
    m = models.create("facenet").eval()
    out = m(torch.randn(5, 1, 36, 36))
    assert out["logits"].shape == (5, 6) and out["logits2"].shape == (5, 6, 2)
    p = torch.softmax(out["logits2"], -1)[..., 1]
    assert torch.allclose(torch.sigmoid(out["logits"]), p, atol=1e-6)


def test_report_loss_weights_and_forty_attribute_widening():
    m = models.create("facenet")
    assert m.loss_weights.tolist() == [10, 1, 5, 5, 1, 5]  # Male, Mustache, Eyeglasses, No_Beard, Hat, Bald
    wide = models.create("facenet", attributes=ATTRIBUTES)
    out = wide(torch.randn(4, 1, 36, 36))
    assert out["logits"].shape == (4, 40)
    loss = wide.losses(out, torch.randint(0, 2, (4, 40)).float())["total"]
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in wide.parameters())


def test_flops_are_counted():
    flops = train.count_flops(models.create("facenet"), (1, 36, 36))
    # conv1 36*36*4*9 + conv2 18*18*16*4*9 + dense 1296*16 + heads 6*16*2 multiply-adds, x2
    macs = 36 * 36 * 4 * 9 + 18 * 18 * 16 * 4 * 9 + 1296 * 16 + 6 * 16 * 2
    assert flops == 2 * macs


def test_report_scores_take_accuracy_for_male_and_the_minority_f1_for_the_rest():
    rng = np.random.default_rng(0)
    attrs = ["Male", "Mustache", "No_Beard"]
    y = (rng.random((300, 3)) < [0.3, 0.1, 0.8]).astype(np.uint8)
    pred = np.where(rng.random((300, 3)) < 0.85, y, 1 - y)
    table = metrics.per_attribute(y, pred, attrs)
    scores = experiments.facenet_report_scores(table)
    assert list(scores) == ["Male_accuracy", "Mustache_f1", "No_Beard_f1"]
    assert scores["Male_accuracy"] == pytest.approx(accuracy_score(y[:, 0], pred[:, 0]))
    assert scores["Mustache_f1"] == pytest.approx(f1_score(y[:, 1], pred[:, 1]))
    assert scores["No_Beard_f1"] == pytest.approx(f1_score(y[:, 2], pred[:, 2], pos_label=0))  # a beard
