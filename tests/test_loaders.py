"""The decode-once cache and device-side batches."""
import numpy as np
import pytest
import torch
from PIL import Image

from faceattr_nb.data import loaders
from tests.helpers import toy_cache


def test_batches_cover_every_image_once_and_normalise():
    c = toy_cache(50)
    seen = []
    for x, y in loaders.batches(c, 16, shuffle=True, seed=1):
        assert x.dtype == torch.float32 and y.shape[1] == 40
        seen.append(y)
    assert sum(len(s) for s in seen) == 50
    x, _ = next(loaders.batches(c, 50))
    raw = c.x.float() / 255
    mean = torch.tensor(c.mean).view(1, -1, 1, 1)
    std = torch.tensor(c.std).view(1, -1, 1, 1)
    assert torch.allclose(x, (raw - mean) / std, atol=1e-5)


def test_same_seed_same_batches_and_flip_flips():
    c = toy_cache(20)
    a = [x for x, _ in loaders.batches(c, 8, shuffle=True, flip=True, seed=5)]
    b = [x for x, _ in loaders.batches(c, 8, shuffle=True, flip=True, seed=5)]
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    plain = next(loaders.batches(c, 20))[0]
    flipped = next(loaders.batches(c, 20, flip=True, seed=0))[0]
    flips = torch.rand(20, generator=torch.Generator().manual_seed(0)) < 0.5
    assert torch.equal(flipped[flips], plain[flips].flip(-1))
    assert torch.equal(flipped[~flips], plain[~flips])


def test_shift_moves_each_image_by_its_own_offset_within_the_bound():
    c = toy_cache(12, size=16)
    plain = next(loaders.batches(c, 12))[0]
    shifted = next(loaders.batches(c, 12, shift=3, seed=4))[0]
    assert shifted.shape == plain.shape
    assert torch.equal(next(loaders.batches(c, 12, shift=3, seed=4))[0], shifted)  # same seed, same shifts
    padded = torch.nn.functional.pad(plain, (3, 3, 3, 3), mode="reflect")
    moved = 0
    for img, ref in zip(shifted, padded):  # every output is one 16x16 window of its reflect-padded image
        windows = [(dy, dx) for dy in range(7) for dx in range(7) if torch.equal(img, ref[:, dy:dy + 16, dx:dx + 16])]
        assert windows, "a shifted image is not a window of its padded original"
        moved += (3, 3) not in windows
    assert moved >= 6  # most of the 12 images moved (P(no move) = 1/49 each)
    assert torch.equal(loaders.translate(plain, torch.full((12, 2), 3), 3), plain)  # (pad, pad): unchanged


def test_shift_leaves_order_and_flips_as_they_were():
    c = toy_cache(20)
    _, y0 = next(loaders.batches(c, 20, shuffle=True, flip=True, seed=5))
    _, y1 = next(loaders.batches(c, 20, shuffle=True, flip=True, shift=2, seed=5))
    assert torch.equal(y0, y1)


@pytest.mark.parametrize("shift", [-1, 8])
def test_shift_out_of_range_says_what_fits(shift):
    with pytest.raises(ValueError, match="half the image side"):
        next(loaders.batches(toy_cache(4, size=16), 4, shift=shift))


def test_drop_last_and_subset():
    c = toy_cache(20)
    assert [len(x) for x, _ in loaders.batches(c, 8, drop_last=True)] == [8, 8]
    s = c.subset([3, 1])
    assert s.ids == [c.ids[3], c.ids[1]] and torch.equal(s.x[0], c.x[3])


def test_process_shares_of_a_batch_make_the_whole_batch():
    c = toy_cache(40)
    kw = dict(shuffle=True, flip=True, seed=2, drop_last=True)
    whole = list(loaders.batches(c, 16, **kw))
    shares = [list(loaders.batches(c, 16, part=(rank, 2), **kw)) for rank in (0, 1)]
    assert len(whole) == len(shares[0]) == len(shares[1]) == 2
    for (x, y), (x0, y0), (x1, y1) in zip(whole, *shares):
        assert len(x0) == len(x1) == 8
        assert torch.equal(x, torch.cat([x0, x1])) and torch.equal(y, torch.cat([y0, y1]))


def test_map_images_keeps_the_order_over_many_chunks():
    items = list(range(300))  # more than one chunk of 64 per thread
    out = loaders.map_images(lambda i: np.full((1, 2, 2), i % 256, np.uint8), items, (1, 2, 2), workers=2)
    assert out[:, 0, 0, 0].tolist() == [i % 256 for i in items]


def test_bad_cache_says_what_is_wrong():
    with pytest.raises(ValueError, match="uint8"):
        loaders.ImageCache(x=torch.zeros(2, 3, 4, 4), y=torch.zeros(2, 40, dtype=torch.uint8), ids=["a", "b"],
                           identity=np.zeros(2))


def test_decode_and_build_cache_reuses_the_saved_array(tmp_path, monkeypatch):
    import pandas as pd

    from faceattr_nb.attributes import ATTRIBUTES
    rng = np.random.default_rng(0)
    ids = [f"{i:06d}.jpg" for i in range(1, 4)]
    for i in ids:
        Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)).save(tmp_path / i)
    table = pd.DataFrame({"image_id": ids, **{a: [0, 1, 0] for a in ATTRIBUTES}, "identity": [1, 1, 2]})
    c1 = loaders.build_cache(table, tmp_path, 32, cache_dir=tmp_path / "cache", workers=1)
    assert c1.x.shape == (3, 3, 32, 32) and c1.x.dtype == torch.uint8
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    with monkeypatch.context() as m:  # the second call must not decode again
        m.setattr(loaders, "decode_image", lambda *a, **k: pytest.fail("decoded again"))
        c2 = loaders.build_cache(table, tmp_path, 32, cache_dir=tmp_path / "cache", workers=1)
    assert torch.equal(c1.x, c2.x)
    ds = loaders.FaceDataset(table.iloc[1:], tmp_path, loaders.eval_transform(24))
    x, y = ds[0]
    assert x.shape == (3, 24, 24) and y.shape == (40,)
    x, _ = loaders.FaceDataset(table.iloc[1:], tmp_path, loaders.train_transform(24))[0]  # crop, flip
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32
