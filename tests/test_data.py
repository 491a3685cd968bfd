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
from course_kit.data import ImageSet, digits_set, resize_set
from torchvision.transforms.v2 import functional as TF
from course_kit.augment import batch_augment


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
