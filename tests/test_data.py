"""Bad input and failure cases of course_kit.data: each ends in a clear error naming the file or folder, or a
counted skip."""

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import need
import torch
from PIL import Image

from course_kit.core import BadDataError, CourseKitError, DataNotFoundError, UnknownNameError, get_settings
from course_kit.data import DeviceLoader
from course_kit.datasets import cifar10_splits, cifar100_splits, fashion_mnist_splits, resolve_data
from course_kit.folders import image_folder_splits, caltech101_splits, open_rgb, get_splits
from course_kit.fixtures import write_image_folder_fixture, write_cifar_fixture, write_caltech101_fixture
from course_kit.writeups import digit_sum_splits, SevenCopies, OneView, report_b_augments
from course_kit.data import (
    ImageSet,
    digits_set,
    resize_set,
    resized_bytes,
    image_tensor,
    as_image_set,
    at_size,
    to_rgb,
)
from torchvision.transforms.v2 import functional as TF
from course_kit.augment import batch_augment, Flip
from sklearn.datasets import load_digits


@pytest.fixture
def settings(tmp_path):
    return get_settings(data_dir=tmp_path / 'data', allow_download=False)


@pytest.fixture
def folder(tmp_path):
    return write_image_folder_fixture(tmp_path / 'set', n_test=3)


def first_png(root, part='train', cls='cat'):
    return sorted((root / part / cls).glob('*.png'))[0]


# --- unreadable files: skipped and counted by default, an error naming the file with on_bad='error'
@pytest.mark.parametrize(
    'make_bad, reason',
    [
        (lambda p: p.write_bytes(b''), r'empty file \(0 bytes\)'),
        (lambda p: p.write_bytes(p.read_bytes()[:200]), 'not a readable image'),  # truncated
        (lambda p: p.write_bytes(b'\x89PNG\r\n\x1a\n' + b'garbage' * 50), 'not a readable image'),  # corrupt
        (lambda p: p.write_text('hello, I am text with an image name'), 'not a readable image'),
    ],
)
def test_unreadable_image_skipped_or_named(folder, settings, make_bad, reason, capsys):
    bad = first_png(folder)
    make_bad(bad)
    splits = image_folder_splits(folder, settings=settings)
    assert len(splits.info['skipped']) == 1 and bad.name in splits.info['skipped'][0][0]
    assert 'skipped 1 unreadable image files' in capsys.readouterr().out
    assert len(splits.train) + len(splits.valid) == 6 * 3 + 2 * 3 - 1
    with pytest.raises(BadDataError, match=reason) as e:
        image_folder_splits(folder, on_bad='error', cache=False, settings=settings)
    assert bad.name in str(e.value)


def test_truncated_jpeg_named(folder, settings):
    path = folder / 'train' / 'dog' / 'photo.jpg'
    Image.new('RGB', (64, 64), (10, 200, 30)).save(path, quality=95)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(BadDataError, match='photo.jpg'):
        image_folder_splits(folder, on_bad='error', cache=False, settings=settings)


def test_non_image_files_ignored_and_counted(folder, settings, capsys):
    (folder / 'train' / 'cat' / 'notes.txt').write_text('x')
    (folder / 'train' / 'dog' / '.DS_Store').write_bytes(b'\0\0')
    (folder / 'test' / 'readme.md').write_text('x')
    splits = image_folder_splits(folder, settings=settings)
    assert len(splits.info['ignored']) == 3 and 'ignored 3 non-image files' in capsys.readouterr().out
    assert len(splits.test) == 3


@pytest.mark.parametrize('mode', ['L', 'LA', 'RGBA', 'P', 'CMYK', 'I;16', '1'])
def test_colour_modes_converted_to_rgb(folder, settings, mode):
    img = (
        Image.new('RGB', (40, 24), (120, 30, 200)).convert(mode)
        if mode not in ('I;16',)
        else Image.new('I;16', (40, 24), 300)
    )
    suffix = '.jpg' if mode == 'CMYK' else '.png'
    if mode == 'P':  # half the image in the transparent colour (index 0), half in another
        img = Image.new('RGB', (40, 24), (120, 30, 200)).convert('P', dither=Image.Dither.NONE)
        img.paste(0, (0, 0, 20, 24))
        img.info['transparency'] = 0
    img.save(folder / 'train' / 'frog' / f'odd{suffix}')
    rgb = open_rgb(folder / 'train' / 'frog' / f'odd{suffix}', 32)
    assert rgb.mode == 'RGB'
    pixels = torch.as_tensor(np.array(rgb)).view(-1, 3)
    grey = round(120 * 0.299 + 30 * 0.587 + 200 * 0.114)  # ITU-R 601, as PIL's convert('L')
    if mode == 'P':  # the right half's palette colour; the transparent left half on white
        colour = tuple(img.getpalette()[3 * img.getpixel((39, 0)) :][:3])
        assert (
            torch.as_tensor(np.array(open_rgb(folder / 'train' / 'frog' / 'odd.png')))[:, :20] == 255
        ).all()
        pixels = torch.as_tensor(np.array(open_rgb(folder / 'train' / 'frog' / 'odd.png')))[:, 20:].reshape(
            -1, 3
        )
    expected = {
        'L': (grey,) * 3,
        'LA': (grey,) * 3,  # opaque: the grey itself
        'RGBA': (120, 30, 200),
        'P': colour if mode == 'P' else None,
        'CMYK': (120, 30, 200),
        'I;16': (round(300 / 65535 * 255),) * 3,  # 16-bit grey scaled to 8 bits
    }.get(mode)
    if expected is not None:
        error = (pixels.int() - torch.tensor(expected)).abs().max().item()
        assert error <= (12 if mode == 'CMYK' else 0), (mode, pixels[0].tolist(), expected)  # JPEG is lossy
    else:  # '1': dithered black and white, resized: grey, the same in the three channels
        assert (pixels == pixels[:, :1]).all() and pixels.min() < grey < pixels.max()
    splits = image_folder_splits(folder, on_bad='error', settings=settings)
    assert splits.train.image_shape == (3, 32, 32) and len(splits.train) == 19


def test_empty_class_folder(folder, settings):
    (folder / 'train' / 'bird').mkdir()
    with pytest.raises(BadDataError, match=r'train/bird holds no images \(it is empty\)'):
        image_folder_splits(folder, settings=settings)


def test_class_folder_with_only_non_images(folder, settings):
    (folder / 'train' / 'bird').mkdir()
    (folder / 'train' / 'bird' / 'a.txt').write_text('x')
    with pytest.raises(BadDataError, match='bird holds no images'):
        image_folder_splits(folder, settings=settings)


def test_classes_differ_between_splits(folder, settings):
    shutil.rmtree(folder / 'valid' / 'frog')
    (folder / 'valid' / 'toad').mkdir()
    Image.new('RGB', (32, 32)).save(folder / 'valid' / 'toad' / 't.png')
    with pytest.raises(BadDataError, match=r"only in train/: \['frog'\]; only in valid/: \['toad'\]"):
        image_folder_splits(folder, settings=settings)


def test_wrong_layouts(tmp_path, settings):
    with pytest.raises(DataNotFoundError, match='does not exist'):
        image_folder_splits(tmp_path / 'nowhere', settings=settings)
    flat = tmp_path / 'flat'
    (flat / 'train').mkdir(parents=True)
    for i in range(3):
        Image.new('RGB', (8, 8)).save(flat / 'train' / f'{i}.png')
    with pytest.raises(BadDataError, match=r'has no class folders but 3 files directly in it'):
        image_folder_splits(flat, settings=settings)
    no_train = tmp_path / 'no_train'
    (no_train / 'images').mkdir(parents=True)
    with pytest.raises(BadDataError, match=r'has no train/ folder \(it holds: images/\)'):
        image_folder_splits(no_train, settings=settings)


def test_missing_file_named(folder):
    with pytest.raises(DataNotFoundError, match='missing file .*gone.png'):
        open_rgb(folder / 'train' / 'cat' / 'gone.png')


def test_cache_follows_file_changes(folder, settings):
    before = image_folder_splits(folder, settings=settings)
    path = first_png(folder)
    Image.new('RGB', (32, 32), (255, 0, 0)).save(path)
    after = image_folder_splits(folder, settings=settings)
    assert not torch.equal(before.train.images, after.train.images) or not torch.equal(
        before.valid.images, after.valid.images
    )


# --- CIFAR, Caltech101, Fashion-MNIST sources
def test_cifar_missing_batch_named(tmp_path, settings):
    folder = write_cifar_fixture(tmp_path, n_per_class=5)
    (folder / 'test_batch').unlink()
    with pytest.raises(DataNotFoundError, match='missing test_batch') as e:
        cifar10_splits(tmp_path, settings=settings)
    assert 'cifar-10-python.tar.gz' in str(e.value) and 'https://www.cs.toronto.edu' in str(e.value)


def test_cifar_refuses_foreign_pickle(tmp_path, settings):
    folder = write_cifar_fixture(tmp_path, n_per_class=5)
    # a pickle with a foreign class
    with open(folder / 'data_batch_1', 'wb') as f:
        pickle.dump({'data': Path('.')}, f)
    with pytest.raises(BadDataError, match='data_batch_1 is not a readable CIFAR batch'):
        cifar10_splits(tmp_path, settings=settings)


def test_cifar100_without_test_labels(tmp_path, settings):
    write_cifar_fixture(tmp_path, n_per_class=10, kind='cifar100', test_labels=False)
    splits = cifar100_splits(tmp_path, settings=settings)
    assert (splits.test.labels == -1).all() and splits.sizes() == dict(train=900, valid=100, test=200)


def test_not_found_error_names_url_and_folder(tmp_path, settings):
    for name, what in [
        ('cifar100', 'cifar-100-python.tar.gz'),
        ('caltech101', 'caltech-101.zip'),
        ('mnist', 'ossci-datasets'),
    ]:
        with pytest.raises(DataNotFoundError) as e:
            resolve_data(name, settings=settings)
        assert what in str(e.value) and str(tmp_path / 'data') in str(e.value)


def test_download_allowed_but_offline(tmp_path, monkeypatch):
    import course_kit.datasets as datasets

    monkeypatch.setattr(datasets, 'network_answers', lambda url, timeout=3.0: False)
    with pytest.raises(DataNotFoundError, match='does not answer'):
        resolve_data('cifar10', settings=get_settings(data_dir=tmp_path, allow_download=True))


def test_caltech_layout_and_bad_file(tmp_path, settings, capsys):
    folder = write_caltech101_fixture(tmp_path)
    (folder / 'Faces' / 'image_0099.jpg').write_bytes(b'')
    splits = caltech101_splits(tmp_path, image_size=32, settings=settings)
    assert splits.info['n_images'] == 51 and len(splits.info['skipped']) == 1
    assert 'BACKGROUND_Google' not in splits.classes


def test_fashion_mnist_from_gz_in_a_folder(tmp_path, settings):
    system = Path('/usr/share/datasets/fashion-mnist')
    need(system.exists(), "Debian's dataset-fashion-mnist (make installs it)")
    mine = tmp_path / 'fm'
    mine.mkdir()
    for f in system.glob('*.gz'):
        shutil.copy(f, mine)
    splits = fashion_mnist_splits(mine, settings=settings, channels=3, image_size=32)
    assert splits.train.image_shape == (3, 32, 32) and splits.sizes()['test'] == 10000
    # unpacked into data_dir once
    assert (tmp_path / 'data' / 'FashionMNIST' / 'raw' / 't10k-images-idx3-ubyte').is_file()


def test_fashion_mnist_corrupt_gz_named(tmp_path, settings):
    mine = tmp_path / 'fm'
    mine.mkdir()
    for name in [
        'train-images-idx3-ubyte',
        'train-labels-idx1-ubyte',
        't10k-images-idx3-ubyte',
        't10k-labels-idx1-ubyte',
    ]:
        (mine / f'{name}.gz').write_bytes(b'not gzip at all')
    with pytest.raises(BadDataError, match='train-images-idx3-ubyte.gz is not a readable gzip file'):
        fashion_mnist_splits(mine, settings=settings)


# --- registry, digit sums, loader reproducibility
def test_registry_errors():
    with pytest.raises(UnknownNameError, match="did you mean 'caltech101'"):
        get_splits('caltech')
    with pytest.raises(UnknownNameError, match='accepted: seed, test, valid'):
        get_splits('digits', n=10)
    with pytest.raises(UnknownNameError, match='accepted: digits, mnist'):
        digit_sum_splits(100, source='emnist')


def test_digit_sum_labels_are_sums():
    "Each label is the sum of the four digits drawn in its tiles, read back from the digit images."
    splits = digit_sum_splits(n_images=300, seed=3, channels=1)
    assert splits.train.image_shape == (1, 8, 32) and splits.train.labels.max() <= 36
    digits = digits_set()
    label_of = {bytes(image.numpy()): int(label) for image, label in zip(digits.images, digits.labels)}
    for part in (splits.train, splits.valid, splits.test):
        for image, label in zip(part.images, part.labels):
            tiles = image.unflatten(-1, (4, 8)).permute(2, 0, 1, 3)  # (4, 1, 8, 8), left to right
            assert sum(label_of[bytes(tile.contiguous().numpy())] for tile in tiles) == label


def distinct_images(n: int, size: int = 16) -> ImageSet:
    "`n` random colour images, labelled with their position."
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
    return ImageSet(images, torch.arange(n), [str(i) for i in range(n)])


def test_report_b_seven_copies_are_the_image_and_its_six_augmentations():
    data = distinct_images(12)
    loader = SevenCopies(data, report_b_augments(16), batch_size=7 * 12, device='cpu')
    ((x, y),) = list(loader)
    original = data.images.float() / 255
    for i in range(len(data)):
        views = x[y == i]
        assert len(views) == 7
        same = [torch.allclose(v, original[i]) for v in views]
        assert sum(same) == 1, 'the image itself, once'
        for changed in (
            original[i].flip(-1),
            original[i].flip(-2),
            TF.rgb_to_grayscale(original[i], 3),
        ):
            # hflip, vflip, grayscale (torchvision's weights are 0.2989, 0.587, 0.114; the kit's 0.299, ...)
            assert any(torch.allclose(v, changed, atol=2e-4) for v in views)
        assert all(not torch.allclose(v, original[i]) for v, s in zip(views, same) if not s)


def test_report_b_one_view_changes_about_six_images_in_seven():
    data = distinct_images(700, 8)
    x = data.images.float() / 255
    viewed = OneView(report_b_augments(8))(x, torch.Generator().manual_seed(0))
    unchanged = sum(torch.allclose(a, b) for a, b in zip(viewed, x))
    flipped = sum(torch.allclose(a, b.flip(-1)) for a, b in zip(viewed, x))
    assert 60 < unchanged < 140 and 60 < flipped < 140, (unchanged, flipped)  # 100 of 700 expected each


def test_device_loader_augmentation_reproducible(tmp_path, settings):
    write_cifar_fixture(tmp_path, n_per_class=10)
    splits = cifar10_splits(tmp_path, settings=settings)
    batches = [
        [
            x
            for x, _ in DeviceLoader(
                splits.train, 16, shuffle=True, device='cpu', augment=batch_augment('crop_flip'), seed=s
            )
        ]
        for s in (1, 1, 2)
    ]
    assert all(torch.equal(a, b) for a, b in zip(batches[0], batches[1]))
    assert not all(torch.equal(a, b) for a, b in zip(batches[0], batches[2]))


def test_batches_are_normalised_per_channel_as_computed_by_hand():
    data = distinct_images(10)
    mean, std = (0.2, 0.4, 0.6), (0.5, 0.25, 0.1)
    x, _ = next(iter(DeviceLoader(data, 10, device='cpu', normalize=(mean, std))))
    by_hand = (data.images.float() / 255 - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert torch.allclose(x, by_hand, atol=1e-6)


def test_two_shards_cover_an_epoch_once_each_with_augmentations_of_its_own():
    "Two processes' shards, simulated in one: disjoint slices of every batch, and flips drawn per process."
    from course_kit.augment import Flip

    data = distinct_images(40)
    shards = [
        DeviceLoader(data, 8, shuffle=True, seed=1, device='cpu', augment=Flip(p=0.5)).shard(rank, 2)
        for rank in range(2)
    ]
    batches = [list(shard) for shard in shards]
    labels = [torch.cat([y for _, y in b]) for b in batches]
    assert sorted(torch.cat(labels).tolist()) == list(range(40))  # every image once, none twice
    whole = torch.cat([y for _, y in DeviceLoader(data, 8, shuffle=True, seed=1, device='cpu')])
    for rank in range(2):  # the same global order: rank r takes slice r of each batch of 8
        assert torch.equal(labels[rank], whole.view(-1, 2, 4)[:, rank].flatten())
    flipped = []
    for b in batches:
        x = torch.cat([x for x, _ in b])
        y = torch.cat([y for _, y in b])
        original = data.images[y].float() / 255
        assert all(torch.equal(a, o) or torch.equal(a, o.flip(-1)) for a, o in zip(x, original))
        flipped.append([not torch.equal(a, o) for a, o in zip(x, original)])
    assert flipped[0] != flipped[1]  # each process draws its own flips
    assert 0 < sum(flipped[0]) < 20


def test_report_b_seven_copies_of_a_set_resized_per_batch():
    "A set too large to copy at the training size is served resized, batch by batch: SevenCopies too."
    data = distinct_images(4, size=8)
    large = ImageSet(data.images, data.labels, data.classes, size=(16, 16))  # stored at 8, served at 16
    ((x, _),) = list(SevenCopies(large, report_b_augments(16), batch_size=28, device='cpu'))
    assert x.shape == (28, 3, 16, 16)
    resized = TF.resize(data.images.float(), [16, 16], antialias=True).round().clamp(0, 255) / 255
    assert sum(any(torch.allclose(v, r) for r in resized) for v in x) == 4  # each image once as it is


def test_unpacking_into_a_folder_that_cannot_be_written_says_so(tmp_path):
    "Not 'a damaged gzip file': the folder is the problem, and the error names the setting to change."
    system = Path('/usr/share/datasets/fashion-mnist')
    need(system.exists(), "Debian's dataset-fashion-mnist (make installs it)")
    locked = get_settings(data_dir='/sys/course_kit_data')  # root cannot write there either
    with pytest.raises(CourseKitError) as error:
        fashion_mnist_splits(system, settings=locked)
    assert '/sys/course_kit_data' in str(error.value) and 'gzip' not in str(error.value)


def test_resize_set_equals_torchvision_image_by_image():
    data = digits_set().subset(range(10))
    data.names = [f'{i}.png' for i in range(10)]
    for size, expected in ((16, [16, 16]), ((12, 20), [12, 20]), (3, [3, 3])):  # up and down
        resized = resize_set(data, size, chunk=3)  # chunks of 3 put back in order
        by_hand = torch.stack([TF.resize(image, expected, antialias=True) for image in data.images])
        assert torch.equal(resized.images, by_hand) and resized.images.dtype == torch.uint8
        assert torch.equal(resized.labels, data.labels) and resized.classes == data.classes
        assert resized.names == data.names and resized.size is None


def test_resize_set_per_batch_keeps_the_bytes_and_the_loader_resizes():
    data = digits_set().subset(range(10))
    later = resize_set(data, 16, per_batch=True)
    assert later.images is data.images and later.size == (16, 16)
    x, _ = next(iter(DeviceLoader(later, batch_size=4, device='cpu')))
    by_hand = torch.stack([TF.resize(image, [16, 16], antialias=True) for image in data.images[:4]])
    assert torch.allclose(x, by_hand.float() / 255, atol=1e-6)
    again = resize_set(later, 8)  # back to the stored size: served as stored
    assert again.size is None and again.images is data.images


def test_shards_split_each_global_batch_and_augment_apart():
    "Each process has its own loader, with the same seed: the same order, its slice of every batch."
    data = digits_set().subset(range(10))

    def loader(**kw):
        return DeviceLoader(data, batch_size=4, device='cpu', shuffle=True, seed=3, **kw)

    whole = [y for _, y in loader()]
    parts = [[y for _, y in loader().shard(rank, 2)] for rank in range(2)]
    for batch, first, second in zip(whole, *parts):
        padded = torch.cat([first, second])
        assert torch.equal(padded[: len(batch)], batch)  # rank 0 then rank 1, padding at the end

    def noise(x, generator):
        return x + torch.rand(x.shape, generator=generator)

    drawn = []
    for rank in range(2):
        plain = next(iter(loader().shard(rank, 2)))[0]
        drawn.append(next(iter(loader(augment=noise).shard(rank, 2)))[0] - plain)
    assert drawn[0].shape == drawn[1].shape
    assert not torch.allclose(drawn[0], drawn[1])  # each process augments with a seed of its own


def tiles(part: ImageSet) -> set:
    "The bytes of every 8x8 digit drawn in a split's images (four side by side in each)."
    images = part.images[:, 0]
    return {images[i, :, 8 * k : 8 * k + 8].numpy().tobytes() for i in range(len(part)) for k in range(4)}


def test_digit_sum_splits_sizes_channels_and_no_shared_digit():
    splits = digit_sum_splits(200, seed=1)
    assert [tuple(p.images.shape) for p in (splits.train, splits.valid, splits.test)] == [
        (160, 3, 8, 32),
        (20, 3, 8, 32),
        (20, 3, 8, 32),
    ]
    assert (
        torch.equal(splits.train.images[:, 0], splits.train.images[:, 2]) and len(splits.train.classes) == 37
    )
    assert splits.name == 'digit-sum of scikit-learn digits'
    other = digit_sum_splits(400, seed=1, channels=1, balanced=False, valid=0.2, test=0.05)
    assert other.info == dict(
        source='digits',
        seed=1,
        balanced=False,
        channels=1,
        sizes=dict(train=300, valid=80, test=20),
        note='digit images split 75/20/5 before composing: no digit image is shared between splits',
    )
    assert other.train.images.shape[1] == 1
    train, valid, test = (tiles(p) for p in (other.train, other.valid, other.test))
    assert not (train & valid or train & test or valid & test)  # the 1,797 digits are all different
    with pytest.raises(UnknownNameError) as refused:
        digit_sum_splits(10, source='emnist')
    assert (
        str(refused.value)
        == "unknown digit-sum source 'emnist'\n  -> did you mean 'mnist'? accepted: digits, mnist"
    )


# --- values of the data helpers, image by image (written against mutants that survived `make mutate`)
def test_resized_bytes_and_a_sized_set_are_torchvision_antialiased_bilinear_rounded():
    images = distinct_images(3, size=16).images
    for size in ((5, 7), (24, 20)):  # down, where antialiasing matters, and up
        by_hand = TF.resize(images.float(), list(size), antialias=True).round().clamp(0, 255).to(torch.uint8)
        resized = resized_bytes(images, size)
        assert resized.dtype == torch.uint8 and torch.equal(resized, by_hand)  # torch.equal ignores dtypes
        served = ImageSet(images, torch.arange(3), ['a', 'b', 'c'], size=size)
        assert torch.equal(served[1][0], by_hand[1]) and served[1][1] == 1
    # PIL's bilinear resize also smooths when it shrinks: the two agree to within a rounding
    pil = Image.fromarray(images[0].permute(1, 2, 0).numpy()).resize((7, 5), Image.Resampling.BILINEAR)
    difference = torch.as_tensor(np.array(pil)).permute(2, 0, 1).int() - resized_bytes(images[0], (5, 7))
    assert difference.abs().max() <= 1


def test_image_set_refuses_float_images_and_miscounted_labels_in_so_many_words():
    with pytest.raises(BadDataError) as error:
        ImageSet(torch.zeros(2, 1, 8, 8), torch.zeros(2), ['a'])
    assert str(error.value) == (
        'images must be a uint8 tensor (N, C, H, W), got torch.float32 (2, 1, 8, 8)\n'
        '  -> convert with (x * 255).round().to(torch.uint8) and add a channel axis'
    )
    with pytest.raises(BadDataError) as error:
        ImageSet(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), [0, 1, 1], ['a', 'b'])
    assert str(error.value) == '2 images but 3 labels\n  -> give one label per image'


def test_image_set_labels_become_int64_whatever_they_were():
    images = torch.zeros(3, 1, 2, 2, dtype=torch.uint8)
    for labels in (np.array([2, 0, 1], dtype=np.int32), torch.tensor([2, 0, 1], dtype=torch.uint8)):
        data = ImageSet(images, labels, ['a', 'b', 'c'])
        assert data.labels.dtype == torch.int64 and data.labels.tolist() == [2, 0, 1]


def test_subset_by_tensor_list_tuple_or_slice_keeps_names_and_size():
    data = distinct_images(6, size=8)
    data = ImageSet(data.images, data.labels, data.classes, [f'{i}.png' for i in range(6)], size=(4, 4))
    for index, positions in [
        (torch.tensor([4, 1]), [4, 1]),
        ([4, 1], [4, 1]),
        ((4, 1), [4, 1]),
        (slice(1, 6, 2), [1, 3, 5]),
    ]:
        part = data.subset(index)
        assert torch.equal(part.images, data.images[positions]) and part.labels.tolist() == positions
        assert part.names == [f'{i}.png' for i in positions]
        assert part.size == (4, 4) and part.classes == data.classes


def test_class_counts_count_class_zero_and_list_classes_without_images():
    labels = [0, 0, 2, -1, 0, 2]  # classes b and d have no image; one label unknown
    data = ImageSet(torch.zeros(6, 1, 2, 2, dtype=torch.uint8), labels, ['a', 'b', 'c', 'd'])
    assert data.class_counts() == {'a': 3, 'b': 0, 'c': 2, 'd': 0}


def test_digits_set_scales_the_sklearn_digits_from_0_16_to_0_255():
    digits = load_digits()
    data = digits_set()
    by_hand = np.rint(digits.images / 16 * 255).astype(np.uint8)[:, None]
    assert np.array_equal(data.images.numpy(), by_hand) and data.images.max() == 255
    assert data.labels.tolist() == digits.target.tolist()


def test_image_tensor_converts_pil_images_and_files_as_pil_does(tmp_path):
    colours = Image.new('RGB', (4, 2), (200, 0, 0))
    colours.paste((10, 250, 90), (2, 0, 4, 2))
    grey = TF.pil_to_tensor(colours.convert('L'))  # PIL rounds: (200, 0, 0) is 60, torchvision would say 59
    assert grey[0, 0, 0] == 60
    path = tmp_path / 'colours.png'
    colours.convert('RGBA').save(path)  # a fourth channel, opaque
    for item in (colours, colours.convert('RGBA'), path, str(path)):
        assert torch.equal(image_tensor(item, 3), TF.pil_to_tensor(colours))
        assert torch.equal(image_tensor(item, 1), grey)
    assert torch.equal(image_tensor(colours.convert('L'), 3), grey.expand(3, -1, -1))
    bad = tmp_path / 'notes.png'
    bad.write_text('not an image')
    with pytest.raises(OSError) as pil_error:
        Image.open(bad)
    with pytest.raises(BadDataError) as error:
        image_tensor(bad, 3)
    assert str(error.value) == (
        f'{bad} is not a readable image ({pil_error.value})\n  -> give image files, PIL images or tensors'
    )


def test_image_tensor_converts_tensors_to_bytes_and_channels():
    values = [-0.5, 0.0, 0.1, 0.2, 0.5, 1.0, 1.5]  # floats in [0, 1]; outside it clipped
    out = image_tensor(torch.tensor(values).view(1, 1, -1), 1)
    assert out.dtype == torch.uint8
    assert out.flatten().tolist() == np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8).tolist()
    plane = torch.arange(20, dtype=torch.uint8).view(4, 5)  # (H, W): one grey channel
    assert torch.equal(image_tensor(plane, 1), plane[None])
    assert torch.equal(image_tensor(plane, 3), torch.stack([plane, plane, plane]))
    assert torch.equal(image_tensor(plane[None], 3), torch.stack([plane, plane, plane]))
    colour = distinct_images(1, size=5).images[0]
    assert torch.equal(image_tensor(colour, 3), colour)
    assert torch.equal(image_tensor(colour, 1), TF.rgb_to_grayscale(colour))


def test_image_tensor_says_what_it_cannot_read():
    fix = '\n  -> give tensors (C, H, W), PIL images or image file paths'
    for item, what in [
        (42, 'int '),
        (np.zeros((8, 8)), 'ndarray (8, 8)'),
        (torch.zeros(1, 1, 4, 4), 'Tensor torch.Size([1, 1, 4, 4])'),
    ]:
        with pytest.raises(BadDataError) as error:
            image_tensor(item, 3)
        assert str(error.value) == f'cannot read an image from {what}{fix}'
    with pytest.raises(BadDataError) as error:
        image_tensor(torch.zeros(4, 5, 5, dtype=torch.uint8), 3)
    assert str(error.value) == 'an image with 4 channels\n  -> the model takes 3'


def test_as_image_set_resizes_names_and_leaves_labels_unknown(tmp_path):
    like = ImageSet(torch.zeros(1, 3, 6, 6, dtype=torch.uint8), [0], ['cat', 'dog'])
    big = distinct_images(2, size=24).images
    path = tmp_path / 'second.png'
    Image.fromarray(big[1].permute(1, 2, 0).numpy()).save(path)
    made = as_image_set([big[0], path], like)
    assert torch.equal(made.images, TF.resize(big, [6, 6], antialias=True))
    assert made.labels.tolist() == [-1, -1] and made.classes == ['cat', 'dog']
    assert made.names == ['0', str(path)]  # a file's path, else the position


def test_as_image_set_refuses_what_is_not_a_list_of_images():
    like = ImageSet(torch.zeros(1, 3, 6, 6, dtype=torch.uint8), [0], ['cat', 'dog'])
    fix = (
        '\n  -> give a list of tensors, PIL images or image files, an ImageSet, or a uint8 tensor '
        '(N, C, H, W)'
    )
    for items, what in (([], 'list'), ('cat.png', 'str'), (None, 'NoneType')):
        with pytest.raises(BadDataError) as error:
            as_image_set(items, like)
        assert str(error.value) == f'test_dl got a {what}{fix}'


def test_device_loader_defaults_batches_of_64_in_order_and_seed_0():
    data = distinct_images(100, size=2)
    loader = DeviceLoader(data, device='cpu')
    assert [len(y) for _, y in loader] == [64, 36] and len(loader) == 2
    assert torch.cat([y for _, y in loader]).tolist() == list(range(100))
    # one process of one, no normalisation
    assert (loader.rank, loader.world_size, loader.mean, loader.std) == (0, 1, None, None)
    shuffled = DeviceLoader(data, shuffle=True, device='cpu')
    order = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([y for _, y in shuffled]), order)


def test_drop_last_drops_the_smaller_last_batch_and_len_counts_batches():
    data = distinct_images(10, size=2)
    for drop_last, sizes in ((False, [4, 4, 2]), (True, [4, 4])):
        loader = DeviceLoader(data, 4, drop_last=drop_last, device='cpu')
        assert [len(y) for _, y in loader] == sizes and len(loader) == len(sizes)


def test_normalising_with_float64_numpy_stats_keeps_float32_batches():
    data = distinct_images(4, size=3)
    x = data.images.double().numpy() / 255
    mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))  # numpy float64, as numpy computes them
    batch, _ = next(iter(DeviceLoader(data, 4, device='cpu', normalize=(mean, std))))
    assert batch.dtype == torch.float32
    assert np.allclose(batch.numpy(), (x - mean[:, None, None]) / std[:, None, None], atol=1e-5)


def test_loader_and_its_copy_keep_images_labels_and_stats_on_their_device():
    "The meta device (tensors with a shape but no data) stands in for a GPU: every machine has it."
    data = distinct_images(6, size=4)
    loader = DeviceLoader(data, 4, device='meta', normalize=((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
    for made in (loader, loader.new()):
        x, y = next(iter(made))
        assert made.device == torch.device('meta') and x.device == y.device == torch.device('meta')
        assert x.shape == (4, 3, 4, 4) and y.shape == (4,)


def noise(x, generator):
    "An augmentation: uniform noise in [0, 1) drawn from `generator`."
    return x + torch.rand(x.shape, generator=generator)


def test_one_process_augments_floats_with_the_shuffling_generator():
    data = distinct_images(8, size=3)
    x, y = next(iter(DeviceLoader(data, 8, shuffle=True, seed=5, device='cpu', augment=noise)))
    generator = torch.Generator().manual_seed(5)
    order = torch.randperm(8, generator=generator)  # first the order, then the noise
    by_hand = data.images[order].float() / 255 + torch.rand((8, 3, 3, 3), generator=generator)
    assert torch.equal(y, order) and torch.allclose(x, by_hand)


class FlipNotingDtypes(Flip):
    "The kit's left-right flip (it works on bytes), noting the dtype of each batch it is given."

    def __init__(self, p: float = 0.5):
        super().__init__(p=p)
        self.dtypes = []

    def __call__(self, x, generator=None):
        self.dtypes.append(x.dtype)
        return super().__call__(x, generator)


def test_a_byte_augmentation_gets_the_uint8_batch_and_the_loader_generator():
    data = distinct_images(16, size=3)
    flip = FlipNotingDtypes()
    x, _ = next(iter(DeviceLoader(data, 16, seed=2, device='cpu', augment=flip)))
    chosen = torch.rand(16, generator=torch.Generator().manual_seed(2)) < 0.5
    by_hand = torch.where(chosen.view(-1, 1, 1, 1), data.images.flip(3), data.images).float() / 255
    assert flip.dtypes == [torch.uint8] and torch.equal(x, by_hand)


def test_each_shard_augments_with_a_seed_from_the_shared_generator_plus_its_rank():
    data = distinct_images(8, size=3)
    for rank in range(2):
        shard = DeviceLoader(data, 8, seed=4, device='cpu', augment=noise).shard(rank, 2)
        x, y = next(iter(shard))
        seed = int(torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(4)))  # the same in both
        by_hand = data.images[y].float() / 255 + torch.rand(
            x.shape, generator=torch.Generator().manual_seed(seed + rank)
        )
        assert y.tolist() == [4 * rank + i for i in range(4)] and torch.allclose(x, by_hand)


def test_a_shard_notes_the_size_of_each_global_batch_before_padding():
    "`to_detach` cuts the gathered predictions to this size, dropping the padding."
    shard = DeviceLoader(distinct_images(9, size=2), 4, device='cpu').shard(1, 2)
    seen = [(shard.real_size, y.tolist()) for _, y in shard]
    assert seen == [(4, [2, 3]), (4, [6, 7]), (1, [0])]  # the last batch, [8], padded with image 0


def test_new_copies_the_loader_for_evaluation_in_order_unless_asked():
    data = distinct_images(10, size=2)
    stats = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    loader = DeviceLoader(data, 4, shuffle=True, drop_last=True, seed=7, device='cpu', normalize=stats)
    plain = loader.new()  # no shuffle, no dropped batch, no augmentation; the same stats and batch size
    assert [y.tolist() for _, y in plain] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    x, _ = next(iter(plain))
    assert torch.allclose(x, (data.images[:4].float() / 255 - 0.5) / 0.25)
    asked = loader.new(shuffle=True, drop_last=True, augment=Flip(p=1.0), bs=3)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(7))  # the loader's seed
    batches = list(asked)
    assert [y.tolist() for _, y in batches] == [part.tolist() for part in order[:9].split(3)]
    flipped = (data.images[order[:3]].flip(3).float() / 255 - 0.5) / 0.25
    assert torch.allclose(batches[0][0], flipped)


def test_resize_set_keeps_labels_classes_and_names_both_ways():
    data = ImageSet(
        distinct_images(3, size=8).images, [2, 0, 1], ['a', 'b', 'c'], ['x.png', 'y.png', 'z.png']
    )
    later = resize_set(data, (4, 6), per_batch=True)
    back = resize_set(later, 8)  # the stored size again: served as stored
    for made, size in ((later, (4, 6)), (back, None)):
        assert made.images is data.images and made.labels.tolist() == [2, 0, 1] and made.size == size
        assert made.classes == ['a', 'b', 'c'] and made.names == ['x.png', 'y.png', 'z.png']


def test_at_size_spells_square_and_oblong_sizes():
    assert at_size('CIFAR-10', 64) == 'CIFAR-10 @ 64 px'
    assert at_size('CIFAR-10', (64, 64)) == 'CIFAR-10 @ 64 px'
    assert at_size('digit-sum', (32, 128)) == 'digit-sum @ 32x128 px'


def test_to_rgb_repeats_the_grey_channel_and_keeps_the_rest():
    planes = torch.arange(24, dtype=torch.uint8).view(2, 1, 3, 4)  # 3 pixels high, like 3 channels
    grey = ImageSet(planes, [1, 0], ['a', 'b'], ['p.png', 'q.png'], size=(6, 8))
    rgb = to_rgb(grey)
    assert torch.equal(rgb.images, planes.repeat(1, 3, 1, 1)) and rgb.labels.tolist() == [1, 0]
    assert rgb.classes == ['a', 'b'] and rgb.names == ['p.png', 'q.png'] and rgb.size == (6, 8)
    colour = distinct_images(2, size=4)
    assert to_rgb(colour) is colour  # returned unchanged
