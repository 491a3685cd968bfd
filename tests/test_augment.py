"""Each batch augmentation does what its name says, checked against an independent computation (torch's
flips, torchvision's functional transforms, a window cut out by hand) rather than only shapes and ranges."""

import math
import warnings
import pytest
import torch
from torchvision.transforms.v2 import functional as TF
from course_kit.augment import (
    AUGMENT_NAMES,
    ColorJitter,
    Compose,
    Flip,
    Gamma,
    Grayscale,
    RandomApply,
    RandomCrop,
    Resize,
    ResizedCrop,
    Rotate,
    batch_augment,
    check_augment_names,
    normalize_stats,
)
from course_kit.core import BadDataError, UnknownNameError


def images(n: int = 8, channels: int = 3, size: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def same_draws(seed: int, n: int) -> torch.Tensor:
    "The uniform numbers an augmentation draws first from a generator seeded with `seed`."
    return torch.rand(n, generator=torch.Generator().manual_seed(seed))


def test_flip_flips_exactly_the_images_its_draws_choose():
    x = images()
    for horizontal, dim in ((True, 3), (False, 2)):
        out = Flip(horizontal, p=0.5)(x, torch.Generator().manual_seed(1))
        chosen = same_draws(1, len(x)) < 0.5
        assert 0 < chosen.sum() < len(x)
        for i in range(len(x)):
            assert torch.equal(out[i], x[i].flip(dim - 1) if chosen[i] else x[i])


def test_random_crop_is_a_window_of_the_zero_padded_image():
    x = images(6, size=10)
    out = RandomCrop(size=8, padding=2)(x, torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    draws = torch.rand(12, generator=torch.Generator().manual_seed(3))
    tops, lefts = (draws[:6] * 7).long(), (draws[6:] * 7).long()  # 14 - 8 + 1 places each way
    for i in range(6):
        top, left = int(tops[i]), int(lefts[i])
        assert torch.equal(out[i], padded[i, :, top : top + 8, left : left + 8])
    assert len({(int(t), int(u)) for t, u in zip(tops, lefts)}) > 1  # not one window for all


def test_crop_and_flip_mirrors_the_window_of_the_images_it_flips():
    x = images(6, size=10)
    out = RandomCrop(padding=0, flip=True)(x, torch.Generator().manual_seed(2))  # no room to move
    flipped = torch.rand(18, generator=torch.Generator().manual_seed(2))[12:] < 0.5
    assert 0 < flipped.sum() < 6
    for i in range(6):
        assert torch.equal(out[i], x[i].flip(2) if flipped[i] else x[i])


def test_grayscale_is_torchvisions_luminance_in_every_channel():
    x = images()
    out = Grayscale()(x)
    # torchvision rounds the red weight to 0.2989; the kit uses ITU-R 601's 0.299
    assert torch.allclose(out, TF.rgb_to_grayscale(x, 3), atol=2e-4)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


def test_gamma_raises_each_image_to_its_drawn_power():
    x = images()
    out = Gamma(0.5, 2.0)(x, torch.Generator().manual_seed(4))
    gammas = torch.exp(math.log(0.5) + (math.log(2.0) - math.log(0.5)) * same_draws(4, len(x)))
    assert torch.allclose(out, x ** gammas.view(-1, 1, 1, 1), atol=1e-6)


def test_color_jitter_scales_brightness_then_contrast_about_the_grey_mean():
    x = images()
    out = ColorJitter(0.5, 0.5)(x, torch.Generator().manual_seed(5))
    draws = torch.rand(16, generator=torch.Generator().manual_seed(5))
    bright = (0.5 + draws[:8]).view(-1, 1, 1, 1)
    contrast = (0.5 + draws[8:]).view(-1, 1, 1, 1)
    y = x * bright
    mean = TF.rgb_to_grayscale(y).mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(out, ((y - mean) * contrast + mean).clamp(0, 1), atol=1e-3)


def test_rotate_by_zero_degrees_changes_nothing_and_a_quarter_turn_turns():
    x = images(4, size=8)
    assert torch.allclose(Rotate(0)(x, torch.Generator().manual_seed(0)), x, atol=1e-5)
    turned = Rotate(90)(x, torch.Generator().manual_seed(0))
    angles = -90 + 180 * same_draws(0, 4)
    for i in range(4):  # each image rotated by its own angle, as torchvision rotates it
        expected = TF.rotate(x[i : i + 1], float(angles[i]), TF.InterpolationMode.BILINEAR)
        centre = (slice(None), slice(None), slice(2, 6), slice(2, 6))  # corners differ in how they fill
        assert torch.allclose(turned[i : i + 1][centre], expected[centre], atol=0.1), i


def test_named_augmentations_and_normalisations():
    x = images()
    flipped = batch_augment('hflip')(x, torch.Generator().manual_seed(1))
    assert torch.equal(flipped, Flip(True)(x, torch.Generator().manual_seed(1)))
    assert normalize_stats('imagenet') == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert normalize_stats('half', channels=1) == ([0.5], [0.5])
    with pytest.raises(UnknownNameError, match="did you mean 'hflip'"):
        batch_augment('hflp')


# Tests added after reading the surviving mutants (benchmarks/survivors/augment.md).


def test_defaults_are_the_documented_ones():
    assert vars(RandomCrop()) == {'size': None, 'padding': 4, 'flip': False}
    assert vars(Flip()) == {'horizontal': True, 'p': 0.5}
    assert vars(Rotate()) == {'degrees': 15}
    assert vars(ColorJitter()) == {'brightness': 0.2, 'contrast': 0.2}
    assert vars(Gamma()) == {'low': 0.8, 'high': 1.25}
    assert RandomApply(Grayscale()).p == 0.5


def test_random_numbers_go_to_the_batchs_device():
    """The draws are made on the CPU and moved to the batch's device. The meta device stands in for a GPU
    here: like CUDA, it refuses to mix with a CPU tensor of several numbers."""
    x = images(4, size=8).to('meta')
    augments = [
        RandomCrop(padding=2, flip=True),
        Flip(),
        Rotate(),
        ColorJitter(),
        Grayscale(),
        Gamma(),
        batch_augment(['crop_flip', 'hflip', 'rotation', 'color_jitter', 'grayscale', 'gamma'], 8, p=0.5),
    ]
    for augment in augments:
        out = augment(x, torch.Generator().manual_seed(0))
        assert out.device == x.device and out.shape == x.shape, augment


def test_rotate_turns_odd_sized_images_exactly_as_torchvision_does():
    x = images(4, channels=1, size=9)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the kit sets align_corners itself: torch has nothing to warn about
        out = Rotate(40)(x, torch.Generator().manual_seed(6))
    angles = -40 + 80 * same_draws(6, 4)  # in degrees
    for i in range(4):
        expected = TF.rotate(x[i : i + 1], float(angles[i]), TF.InterpolationMode.BILINEAR)
        assert torch.allclose(out[i : i + 1], expected, atol=1e-5), i


def test_resize_is_torchvisions_antialiased_bilinear_resize():
    x = images(size=12)
    assert torch.allclose(Resize(5)(x), TF.resize(x, [5, 5], antialias=True), atol=1e-6)
    assert torch.allclose(Resize(20)(x), TF.resize(x, [20, 20], antialias=True), atol=1e-6)
    # rounding can put a white pixel at 1 + 1e-7; the kit clamps it back to 1
    white = torch.ones(2, 3, 12, 12)
    assert torch.equal(Resize(3)(white), torch.ones(2, 3, 3, 3))
    assert Resize(12)(x) is x  # already at the size: passed through, not copied


def test_random_crop_of_wide_images_moves_the_window_within_each_axis():
    x = images(6, size=12)[:, :, :8]  # 8 high, 12 wide
    out = RandomCrop(size=6, padding=0)(x, torch.Generator().manual_seed(7))
    draws = torch.rand(12, generator=torch.Generator().manual_seed(7))
    tops, lefts = (draws[:6] * 3).long(), (draws[6:] * 7).long()  # 8 - 6 + 1 and 12 - 6 + 1 places
    for i in range(6):
        top, left = int(tops[i]), int(lefts[i])
        assert torch.equal(out[i], x[i, :, top : top + 6, left : left + 6])


def test_a_crop_taller_than_the_images_says_what_to_do():
    x = images(2, size=12)[:, :, :6]  # 6 high, 12 wide: an 8x8 window fits across, not down
    with pytest.raises(BadDataError) as err:
        RandomCrop(size=8, padding=0)(x)
    assert str(err.value) == 'cannot crop 8x8 out of 6x12 images\n  -> resize first or crop smaller'


def test_a_draw_of_exactly_one_half_does_not_flip():
    """An image is flipped when its draw is below p, so p = 0.5 flips exactly half the draws. The seeds were
    searched for: their draws contain exactly 0.5 (at index 193, and at 766 = the flip draw of image 254)."""
    x = images(256, channels=1, size=2)
    assert same_draws(174657, 256)[193] == 0.5
    out = Flip(p=0.5)(x, torch.Generator().manual_seed(174657))
    assert torch.equal(out[193], x[193])
    assert same_draws(9525, 768)[766] == 0.5
    out = RandomCrop(padding=0, flip=True)(x, torch.Generator().manual_seed(9525))
    assert torch.equal(out[254], x[254])


def test_grayscale_of_grey_short_and_double_precision_batches():
    grey = images(channels=1)
    assert torch.equal(Grayscale()(grey), grey)  # already grey: unchanged
    short = images(size=12)[:, :, :1]  # RGB one row high: grey is told by the channels, not the height
    r, g, b = short.double().unbind(1)
    expected = (0.299 * r + 0.587 * g + 0.114 * b).float()
    assert torch.allclose(Grayscale()(short)[:, 0], expected, atol=1e-6)
    x = images().double()
    r, g, b = x.unbind(1)
    out = Grayscale()(x)
    assert out.dtype == torch.float64
    assert torch.allclose(out[:, 0], 0.299 * r + 0.587 * g + 0.114 * b, rtol=0, atol=1e-14)
    assert Grayscale()(images().half()).dtype == torch.float16


def halve(x, generator=None):
    "A plain function as an augmentation: it has no `on_bytes`, and needs a float batch."
    return x / 2


def test_compose_works_on_bytes_only_when_every_part_does():
    assert batch_augment(['crop_flip', 'hflip', 'vflip']).on_bytes is True
    assert batch_augment(['crop_flip', 'rotation']).on_bytes is False
    both = Compose([Flip(), halve])
    assert both.on_bytes is False
    x = images()
    expected = Flip()(x, torch.Generator().manual_seed(8)) / 2
    assert torch.equal(both(x, torch.Generator().manual_seed(8)), expected)


def test_each_name_builds_the_augmentation_of_the_table():
    """The named augmentations at the default image_size 32, against the classes built as the table says: the
    same output, and the same description when printed."""
    x = images(8, size=32)
    table = {
        'crop': RandomCrop(padding=4),
        'crop_flip': RandomCrop(padding=4, flip=True),
        'hflip': Flip(True, p=0.5),
        'vflip': Flip(False, p=0.5),
        'rotation': Rotate(15),
        'resized_crop': ResizedCrop(32),
        'resize_crop': Compose([Resize(40), RandomCrop(32, padding=0)]),
        'color_jitter': ColorJitter(0.2, 0.2),
        'grayscale': RandomApply(Grayscale(), 0.5),
        'gamma': Gamma(0.8, 1.25),
    }
    assert list(table) == AUGMENT_NAMES
    for name, augment in table.items():
        out = batch_augment(name)(x, torch.Generator().manual_seed(9))
        expected = augment(x, torch.Generator().manual_seed(9))
        assert out.shape == expected.shape and torch.equal(out, expected), name
        assert repr(batch_augment(name)) == repr(Compose([augment]))


def test_p_below_one_flips_the_images_both_draws_choose():
    "With p = 0.3 an image is flipped when its RandomApply draw is below 0.3 and its Flip draw below 0.5."
    x = images(16)
    out = batch_augment(['hflip'], 16, p=0.3)(x, torch.Generator().manual_seed(3))
    draws = same_draws(3, 32)
    flipped = (draws[:16] < 0.3) & (draws[16:] < 0.5)
    assert 0 < flipped.sum() < (draws[:16] < 0.3).sum()
    for i in range(16):
        assert torch.equal(out[i], x[i].flip(2) if flipped[i] else x[i]), i


def test_unknown_names_get_the_closest_and_the_accepted_ones():
    with pytest.raises(UnknownNameError) as err:
        normalize_stats('imagnet')
    assert (
        str(err.value)
        == "unknown normalisation 'imagnet'\n  -> did you mean 'imagenet'? accepted: half, imagenet, none"
    )
    assert check_augment_names(('hflip', 'vflip')) == ['hflip', 'vflip']
    assert check_augment_names('gamma') == ['gamma']
    with pytest.raises(UnknownNameError) as err:
        batch_augment(['hflip', 'rotaton'])
    accepted = ', '.join(sorted(AUGMENT_NAMES))
    assert (
        str(err.value)
        == f"unknown augmentation 'rotaton'\n  -> did you mean 'rotation'? accepted: {accepted}"
    )


def test_a_crop_without_a_size_keeps_wide_images_wide():
    "The default window is the input's height and width: unpadded, it is the whole image; padded, a shift."
    images = torch.rand(2, 1, 8, 32)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(RandomCrop(padding=0)(images, generator), images)
    shifted = RandomCrop(padding=2)(images, generator)
    assert shifted.shape == (2, 1, 8, 32)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    windows = [padded[:, :, top : top + 8, left : left + 32] for top in range(5) for left in range(5)]
    assert all(any(torch.equal(s, w[i]) for w in windows) for i, s in enumerate(shifted))
