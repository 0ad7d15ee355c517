"""Knowledge distillation (distill.py): the teachers' mean probabilities become the training targets."""
import dataclasses

import numpy as np
import pytest
import torch

from faceattr_nb import distill, train
from faceattr_nb.data.loaders import batches
from tests.helpers import toy_cache
from tests.test_train import Tiny, _cfg

torch.set_num_threads(1)


def teachers(n: int = 2) -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [Tiny().eval() for _ in range(n)]


def test_teacher_probs_are_the_mean_over_teachers_and_mirror_images():
    cache, models = toy_cache(24), teachers()
    mirror = dataclasses.replace(cache, x=cache.x.flip(-1))
    each = [(train.predict(m, cache) + train.predict(m, mirror)) / 2 for m in models]
    np.testing.assert_allclose(distill.teacher_probs(models, cache), np.mean(each, axis=0), rtol=1e-5, atol=1e-6)
    plain = distill.teacher_probs(models, cache, flip=False)
    np.testing.assert_allclose(plain, np.mean([train.predict(m, cache) for m in models], axis=0), atol=1e-6)
    # a face and its mirror image get the same target, so the training flip does not change it
    np.testing.assert_allclose(distill.teacher_probs(models, mirror), distill.teacher_probs(models, cache), atol=1e-6)
    with pytest.raises(ValueError, match="no teacher"):
        distill.teacher_probs([], cache)


def test_soft_targets_replace_the_labels_in_training_batches_only():
    cache = toy_cache(16)
    probs = np.random.default_rng(0).random(tuple(cache.y.shape)).astype(np.float32)
    soft = distill.with_soft_targets(cache, probs, weight=0.75)
    expected = (0.75 * probs + 0.25 * cache.y.numpy()).astype(np.float32)
    (_, y), = batches(soft, 16)
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-6)
    assert torch.equal(soft.y, cache.y)  # the labels stay, for scoring and the majority baseline
    torch.testing.assert_close(soft.subset([3, 1]).targets, torch.from_numpy(expected[[3, 1]]))
    assert soft.select_attrs(["Smiling"]).targets.shape == (16, 1)
    (_, labels), = batches(distill.with_soft_targets(cache, probs, weight=0.0), 16)
    assert torch.equal(labels, cache.y.float())
    assert distill.agreement(cache, cache.y.numpy().astype(np.float32)) == 1.0
    assert distill.agreement(cache, 1.0 - cache.y.numpy()) == 0.0


def test_bad_soft_targets_say_what_is_wrong():
    cache = toy_cache(8)
    with pytest.raises(ValueError, match="weight"):
        distill.with_soft_targets(cache, np.zeros(tuple(cache.y.shape)), weight=1.5)
    with pytest.raises(ValueError, match="score the teachers on this very cache"):
        distill.with_soft_targets(cache, np.zeros((4, 40)))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        dataclasses.replace(cache, targets=torch.full(tuple(cache.y.shape), 2.0))


def test_a_student_learns_the_teachers_probabilities_not_the_labels(tmp_path):
    data, val = toy_cache(96), toy_cache(32, seed=1)
    target = np.full(tuple(data.y.shape), 0.3, dtype=np.float32)  # a teacher unsure of everything
    torch.manual_seed(0)
    student = Tiny()
    train.fit(student, distill.with_soft_targets(data, target), val, _cfg(epochs=6), name="student",
              runs_dir=tmp_path, progress=False)
    probs = train.predict(student, data)
    assert abs(probs.mean() - 0.3) < 0.05 and probs.std() < 0.1  # not the 0/1 labels it never saw
    torch.manual_seed(0)
    labelled = Tiny()  # same start, labels: far more spread
    train.fit(labelled, data, val, _cfg(epochs=6), name="labelled", runs_dir=tmp_path, progress=False)
    assert train.predict(labelled, data).std() > 2 * probs.std()


def test_a_checkpoint_trained_on_other_targets_starts_afresh(tmp_path, capsys):
    data, val = toy_cache(64), toy_cache(32, seed=1)

    def stop_after_one(epoch, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.fit(Tiny(), distill.with_soft_targets(data, np.full(tuple(data.y.shape), 0.3)), val, _cfg(),
                  name="kd", runs_dir=tmp_path, progress=False, on_epoch_end=stop_after_one)
    run = train.fit(Tiny(), distill.with_soft_targets(data, np.full(tuple(data.y.shape), 0.6)), val, _cfg(),
                    name="kd", runs_dir=tmp_path, progress=False)
    assert "starting kd afresh" in capsys.readouterr().out and len(run.history) == 4
