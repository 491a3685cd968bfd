"""Each batch augmentation does what its name says, checked against an independent computation (torch's
flips, torchvision's functional transforms, a window cut out by hand) rather than only shapes and ranges."""

import math
import pytest
import torch
from torchvision.transforms.v2 import functional as TF
from course_kit.augment import (
    ColorJitter,
    Flip,
    Gamma,
    Grayscale,
    RandomCrop,
    Rotate,
    batch_augment,
    normalize_stats,
)
from course_kit.core import UnknownNameError


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
