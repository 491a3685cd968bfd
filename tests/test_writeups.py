"""The parts of the kit that one writeup uses (course_kit/writeups.py): report B's augmented training set and
report C's digit-sum data set, each checked against a computation done here by hand."""

import itertools
from collections import defaultdict

import numpy as np
import pytest
import torch

from course_kit.augment import Flip, Gamma
from course_kit.core import BadDataError, get_settings
from course_kit.data import ImageSet, digits_set, split_set
from course_kit.fixtures import write_idx
from course_kit.writeups import (
    OneView,
    SevenCopies,
    compose_digit_sums,
    digit_sum_splits,
    draw_digits,
    report_b_augments,
    view_of,
)

# the flips change every image the same way, so the views can be computed here with torch.flip
FLIPS = [Flip(True, p=1.0), Flip(False, p=1.0)]


def distinct_images(n: int, size: int = 4) -> ImageSet:
    "`n` random colour images, labelled with their position."
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
    return ImageSet(images, torch.arange(n), [str(i) for i in range(n)])


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# report B: the augmentations, view_of, OneView, SevenCopies


def test_report_b_flips_always_flip_and_say_so():
    "The two flips of report B change every image (p=1.0); printed, they say which way and how often."
    augments = report_b_augments(8)
    assert [repr(a) for a in augments[1:3]] == [
        'Flip(horizontal=True, p=1.0)',
        'Flip(horizontal=False, p=1.0)',
    ]
    x = torch.rand(5, 3, 8, 8)
    assert torch.equal(augments[1](x, seeded(0)), x.flip(-1))
    assert torch.equal(augments[2](x, seeded(0)), x.flip(-2))


def test_view_of_applies_augmentation_k_to_the_images_of_view_k():
    "View 0 is the image unchanged, view 1 the first augmentation, view 2 the second."
    x = torch.rand(6, 3, 4, 4)
    views = torch.tensor([0, 1, 2, 0, 2, 1])
    expected = torch.stack([x[0], x[1].flip(-1), x[2].flip(-2), x[3], x[4].flip(-2), x[5].flip(-1)])
    assert torch.equal(view_of(x, views, FLIPS), expected)


def test_view_of_draws_random_augmentations_from_the_generator():
    "A random augmentation draws from the generator given, not from torch's global one."
    x = torch.rand(6, 3, 4, 4)
    views = torch.tensor([1, 0, 1, 1, 0, 1])
    expected = x.clone()
    expected[views == 1] = Gamma()(x[views == 1], seeded(5))
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        assert torch.equal(view_of(x, views, [Gamma()], seeded(5)), expected)


def test_one_view_draws_each_images_view_from_the_generator():
    "One view per image, uniform over unchanged + the augmentations, drawn from the generator given."
    x = torch.rand(50, 3, 4, 4)
    views = (torch.rand(50, generator=seeded(4)) * 3).long()  # 0, 1 or 2
    expected = torch.stack([[image, image.flip(-1), image.flip(-2)][v] for image, v in zip(x, views)])
    torch.manual_seed(1)
    assert torch.equal(OneView(FLIPS)(x, seeded(4)), expected)


def test_one_view_random_augmentations_follow_the_generator():
    "The same generator gives the same batch, whatever torch's global seed is."
    x = torch.rand(20, 3, 4, 4)
    torch.manual_seed(1)
    first = OneView([Gamma()])(x, seeded(4))
    torch.manual_seed(2)
    second = OneView([Gamma()])(x, seeded(4))
    assert torch.equal(first, second)
    assert not torch.equal(first, x)


def test_seven_copies_serves_every_view_in_the_seeded_order_normalised():
    "Each (image, view) pair once per epoch, in the order of torch.randperm with the loader's seed."
    data = distinct_images(10)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    loader = SevenCopies(data, FLIPS, batch_size=8, device='cpu', normalize=(mean, std), seed=3)
    torch.manual_seed(1)  # a global seed unlike the loader's
    batches = list(loader)
    # 10 images x 3 views = 30 pairs: batches of 8, 8, 8 and 6
    assert len(loader) == 4
    assert [len(x) for x, _ in batches] == [8, 8, 8, 6]
    order = torch.randperm(30, generator=seeded(3))
    original = data.images.float() / 255
    views = [original, original.flip(-1), original.flip(-2)]
    expected = torch.stack([views[i // 10][i % 10] for i in order.tolist()])
    expected = (expected - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(torch.cat([x for x, _ in batches]), expected, atol=1e-6)
    assert torch.equal(torch.cat([y for _, y in batches]), order % 10)


@pytest.mark.parametrize('n, batch_size, n_batches', [(10, 8, 9), (12, 84, 1), (5, 7, 5), (1, 64, 1)])
def test_seven_copies_length_is_the_number_of_batches(n, batch_size, n_batches):
    "len() counts the batches of 7n images (the image and its six views): ceil(7n / batch_size)."
    loader = SevenCopies(distinct_images(n, 8), report_b_augments(8), batch_size=batch_size, device='cpu')
    assert len(loader) == n_batches == -(-7 * n // batch_size)
    assert len(list(loader)) == n_batches


def test_seven_copies_defaults_batches_of_64_with_seed_0_reshuffled_each_epoch():
    data = distinct_images(10)
    loader = SevenCopies(data, report_b_augments(4), device='cpu')
    assert loader.shuffle is True
    first = list(loader)
    assert [len(x) for x, _ in first] == [64, 6]
    expected = torch.randperm(70, generator=seeded(0)) % 10
    assert torch.equal(torch.cat([y for _, y in first]), expected)
    second = torch.cat([y for _, y in loader])
    assert not torch.equal(second, expected)  # a new order in the next epoch


def test_seven_copies_augmentations_follow_the_seed():
    "The same seed gives the same batches (the random views too), whatever torch's global seed is."
    data = distinct_images(12, 8)
    epochs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        loader = SevenCopies(data, report_b_augments(8), batch_size=16, device='cpu', seed=5)
        epochs.append(list(loader))
    for (x1, y1), (x2, y2) in zip(*epochs):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_seven_copies_uses_the_device_it_is_given(monkeypatch):
    "An explicit device wins over the device setting (here one that does not exist)."
    monkeypatch.setenv('COURSE_KIT_DEVICE', 'no-such-device')
    loader = SevenCopies(distinct_images(4), FLIPS, batch_size=12, device='cpu')
    ((x, y),) = list(loader)
    assert loader.device == torch.device('cpu') and x.device.type == 'cpu'


# report C: the digit-sum data set


def ways_to_write() -> dict:
    "sum -> every four-digit tuple (0000 to 9999) with that digit sum, in counting order."
    ways = defaultdict(list)
    for digits in itertools.product(range(10), repeat=4):
        ways[sum(digits)].append(digits)
    return ways


WAYS = ways_to_write()


def digits_by_hand(n: int, rng: np.random.Generator, balanced: bool) -> np.ndarray:
    """The writeup's recipe with the kit's draws: balanced, a sum uniform over 0..36, then one of its ways
    picked by a uniform number; otherwise four uniform digits."""
    if not balanced:
        return rng.integers(0, 10, (n, 4))
    sums, where = rng.integers(0, 37, n), rng.random(n)
    return np.array([WAYS[s][int(u * len(WAYS[s]))] for s, u in zip(sums, where)])


def composed_by_hand(pool: ImageSet, n: int, rng: np.random.Generator, balanced: bool):
    "Images (n, C, h, 4w) and labels: each digit one of the pool's images of it, tiles left to right."
    digits = digits_by_hand(n, rng, balanced)
    where = rng.random(digits.shape)
    labels = pool.labels.numpy()
    images = []
    for row, fractions in zip(digits, where):
        tiles = []
        for digit, u in zip(row, fractions):
            same = np.flatnonzero(labels == digit)  # the pool's images of this digit, in pool order
            tiles.append(pool.images[same[int(u * len(same))]])
        images.append(torch.cat(tiles, dim=-1))
    return torch.stack(images), torch.from_numpy(digits.sum(1))


def test_balanced_digit_draws_follow_the_recipe():
    rng, again = np.random.default_rng(7), np.random.default_rng(7)
    assert np.array_equal(draw_digits(500, rng, True), digits_by_hand(500, again, True))


def test_balanced_sums_are_uniform_over_0_to_36():
    digits = draw_digits(37000, np.random.default_rng(0), True)
    assert digits.shape == (37000, 4) and digits.min() == 0 and digits.max() == 9
    counts = np.bincount(digits.sum(1), minlength=37)
    assert len(counts) == 37 and counts.min() > 850 and counts.max() < 1150, counts  # 1,000 expected each


def test_unbalanced_digits_are_uniform_over_0_to_9():
    digits = draw_digits(10000, np.random.default_rng(0), False)
    assert digits.shape == (10000, 4)
    counts = np.bincount(digits.ravel(), minlength=10)
    assert len(counts) == 10 and counts.min() > 3700 and counts.max() < 4300, counts  # 4,000 expected each
    sums = digits.sum(1)
    assert (sums == 0).sum() + (sums == 36).sum() < 10  # 1 in 10,000 each: rare, unlike balanced sums


@pytest.mark.parametrize('balanced', [True, False])
def test_compose_digit_sums_by_hand(balanced):
    pool = digits_set()
    composed = compose_digit_sums(pool, 200, np.random.default_rng(3), balanced)
    images, labels = composed_by_hand(pool, 200, np.random.default_rng(3), balanced)
    assert torch.equal(composed.images, images)
    assert torch.equal(composed.labels, labels)
    assert composed.classes == [str(s) for s in range(37)]


def without_digit(pool: ImageSet, digit: int) -> ImageSet:
    return pool.subset(torch.nonzero(pool.labels != digit).flatten())


@pytest.mark.parametrize('digit', [3, 9])
def test_compose_digit_sums_refuses_a_pool_without_a_digit(digit):
    pool = without_digit(digits_set().subset(range(300)), digit)
    with pytest.raises(BadDataError) as refused:
        compose_digit_sums(pool, 20, np.random.default_rng(0), True)
    assert (
        str(refused.value)
        == f'no image of digit {digit} to build digit sums from\n  -> use more digit images'
    )


def test_compose_digit_sums_with_one_image_of_a_digit_uses_it_for_every_such_digit():
    digits = digits_set().subset(range(300))
    fives = torch.nonzero(digits.labels == 5).flatten()
    pool = digits.subset(torch.cat([torch.nonzero(digits.labels != 5).flatten(), fives[:1]]))
    composed = compose_digit_sums(pool, 100, np.random.default_rng(0), True)
    images, labels = composed_by_hand(pool, 100, np.random.default_rng(0), True)
    assert torch.equal(composed.images, images) and torch.equal(composed.labels, labels)


def test_digit_sum_splits_by_hand():
    "The digit images split first (valid, test and seed as given), then one random stream composes all three."
    splits = digit_sum_splits(300, seed=2, channels=1, valid=0.2, test=0.1)
    pools, rng = split_set(digits_set(), valid=0.2, test=0.1, seed=2), np.random.default_rng(2)
    for part, pool, n in [
        (splits.train, pools.train, 210),
        (splits.valid, pools.valid, 60),
        (splits.test, pools.test, 30),
    ]:
        images, labels = composed_by_hand(pool, n, rng, True)
        assert torch.equal(part.images, images) and torch.equal(part.labels, labels)


def test_digit_sum_splits_defaults():
    "10,000 balanced images from seed 0, split 80/10/10, grey repeated to 3 channels."
    splits = digit_sum_splits()
    assert splits.info == dict(
        source='digits',
        seed=0,
        balanced=True,
        channels=3,
        sizes=dict(train=8000, valid=1000, test=1000),
        note='digit images split 80/10/10 before composing: no digit image is shared between splits',
    )
    assert splits.train.image_shape == (3, 8, 32)


def test_digit_sum_of_mnist(tmp_path, monkeypatch):
    """From MNIST's idx files (a tiny fixture: 60 train + 40 test digits): copied into the data_dir of the
    settings given, and every digit image of both files can be drawn."""
    monkeypatch.setenv('COURSE_KIT_DATA_DIR', str(tmp_path / 'elsewhere'))  # not the settings' data_dir
    rng = np.random.default_rng(0)
    files = {}
    for part, n in (('train', 60), ('t10k', 40)):
        labels = np.arange(n) % 10
        files[part] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), labels
        write_idx(tmp_path / 'downloads' / f'{part}-images-idx3-ubyte', files[part][0])
        write_idx(tmp_path / 'downloads' / f'{part}-labels-idx1-ubyte', labels)
    settings = get_settings(data_dir=tmp_path / 'data', allow_download=False)
    splits = digit_sum_splits(400, source='mnist', channels=1, root=tmp_path / 'downloads', settings=settings)
    assert (tmp_path / 'data' / 'MNIST' / 'raw' / 't10k-images-idx3-ubyte').is_file()
    assert not (tmp_path / 'elsewhere').exists()
    assert splits.name == 'digit-sum of MNIST'
    assert splits.train.image_shape == (1, 28, 112)
    part_of = {
        image.tobytes(): (part, int(label))
        for part, (images, labels) in files.items()
        for image, label in zip(images, labels)
    }
    used = set()
    for part in (splits.train, splits.valid, splits.test):
        for image, label in zip(part.images[:, 0].numpy(), part.labels):
            tiles = [part_of[image[:, 28 * k : 28 * k + 28].tobytes()] for k in range(4)]
            assert sum(digit for _, digit in tiles) == label
            used.update(file for file, _ in tiles)
    assert used == {'train', 't10k'}


def test_seven_copies_shards_serve_each_process_its_slice_of_every_batch():
    """Under torchrun each process gets its half of every global batch of the 7x set, not the whole set
    (10 images, 2 views each: batches of 14 and 6, 7 and 3 for each of 2 processes)."""
    images = torch.randint(0, 256, (10, 1, 6, 6), dtype=torch.uint8)
    data = ImageSet(images, torch.arange(10), [str(i) for i in range(10)])
    augments = [Flip(p=1.0)]  # 2 views of each image here: as it is, flipped

    def loader():
        return SevenCopies(data, augments, batch_size=14, device='cpu', seed=3)

    whole = [y for _, y in loader()]
    parts = [list(loader().shard(rank, 2)) for rank in (0, 1)]
    assert [len(y) for _, y in parts[0]] == [7, 3]
    for batch, labels in enumerate(whole):
        assert torch.equal(torch.cat([parts[0][batch][1], parts[1][batch][1]]), labels)
    shard = loader().shard(1, 2)
    list(shard)
    assert shard.real_size == 6  # the last global batch: 20 views, 14 + 6
