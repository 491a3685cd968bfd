"""Bad input, one case per test, on real files: each either works right or stops with a message naming the
file or parameter and the fix; the user's files are unchanged. (The cases the issue tracker listed, and
their siblings.)"""

import copy
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from PIL import Image

from conftest import BIN, run as run_command
from course_kit.core import (
    BadDataError,
    CheckpointError,
    CourseKitError,
    SettingsError,
    WeightsNotFoundError,
    get_settings,
)
from course_kit.data import Splits, get_dls, resize_set
from course_kit.datasets import cifar10_splits
from course_kit.folders import image_folder_splits, open_rgb
from course_kit.fixtures import write_cifar_fixture, write_image_folder_fixture
from course_kit.transfer import create_transfer_model, freeze, unfreeze, add_lora
from course_kit.models import get_model
from course_kit.recipe import Recipe, Phase
from course_kit.learner import make_learner, fit
from course_kit.training import train
from course_kit.evaluate import get_predictions
from course_kit.submissions import write_kaggle_csv, check_submission
from course_kit.report import ReportRun
from fastai.callback.core import Callback

CLI = str(BIN / 'course-kit')

pytestmark = pytest.mark.usefixtures('one_thread')  # (`one_thread` and `small` are in conftest.py)


@pytest.fixture
def settings(tmp_path):
    return get_settings(data_dir=tmp_path / 'data', allow_download=False)


def digest(folder: Path) -> dict:
    "Hashes of every file under `folder` (to check that nothing the user made changed)."
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob('*'))
        if p.is_file()
    }


def tiny_model(**kw):
    return get_model('small_cnn', 10, in_channels=1, widths=(8, 16), **kw)


def tiny_dls(small, **kw):
    return get_dls(small, batch_size=32, device='cpu', **kw)


def trained(small):
    "The tiny model after one epoch on the digits: its learner."
    recipe = Recipe(epochs=1)
    learn = make_learner(tiny_dls(small), tiny_model(), recipe, progress=False)
    fit(learn, recipe)
    return learn


# --- fastai's tools on the kit's loaders
def test_test_dl_gives_the_items_passed(small):
    learn = trained(small)
    items = small.test.images[5:12]
    dl = learn.dls.test_dl(items)
    assert torch.equal(dl.dataset.images, items)
    assert torch.equal(get_predictions(learn, dl).preds, get_predictions(learn, learn.dls[2]).preds[5:12])


def test_predict_works_and_export_fails_at_once_with_the_way_to_do_it(small, tmp_path):
    learn = trained(small)
    learn.path = tmp_path
    with pytest.raises(CourseKitError, match='learn.predict takes one image'):
        learn.predict(list(small.test.images[:2]))
    with pytest.raises(CourseKitError, match='is not a readable image'):
        learn.predict(tmp_path / 'nowhere.png')
    with pytest.raises(CourseKitError, match=r'torch.save\(learn.model.state_dict\(\), path\)'):
        learn.export()
    assert not list(tmp_path.glob('*.pkl'))


# --- freezing and LoRA
def test_frozen_body_keeps_its_batchnorm_statistics():
    torch.manual_seed(0)
    model = create_transfer_model('resnet18', 4, pretrained=False)
    freeze(model, 'body')
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    for _ in range(2):
        loss = nn.functional.cross_entropy(model(torch.randn(8, 3, 32, 32)), torch.arange(8) % 4)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    changed = sorted(k for k, v in model.state_dict().items() if not torch.equal(v, before[k]))
    assert changed == ['fc.bias', 'fc.weight'], changed


def test_lora_all_phase_never_trains_the_frozen_base():
    model = add_lora(create_transfer_model('resnet18', 5, pretrained=False), rank=2, targets=(nn.Conv2d,))
    names = unfreeze(model, 'all')
    assert not any('.base.' in n and 'lora_' not in n for n in names)
    assert any('lora_' in n for n in names)


def test_lora_twice_and_rank_zero_are_refused():
    model = add_lora(create_transfer_model('resnet18', 5, pretrained=False), rank=2)
    with pytest.raises(CourseKitError, match='already has LoRA adapters'):
        add_lora(model)
    with pytest.raises(SettingsError, match='rank accepts a whole number >= 1'):
        add_lora(create_transfer_model('resnet18', 5, pretrained=False), rank=0)


# --- images and folders
def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)).save(tmp_path / 'grey16.png')
    assert np.asarray(open_rgb(tmp_path / 'grey16.png'))[0, :, 0].tolist() == [0, 64, 128, 255]


def test_transparent_background_turns_white_not_black(tmp_path):
    image = Image.new('RGBA', (4, 4), (0, 0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0, 255))
    image.save(tmp_path / 'logo.png')
    pixels = np.asarray(open_rgb(tmp_path / 'logo.png'))
    assert pixels[0, 0].tolist() == [255, 0, 0] and pixels[3, 3].tolist() == [255, 255, 255]


def test_images_in_a_sub_folder_of_a_class_count(tmp_path, settings, capsys):
    root = write_image_folder_fixture(tmp_path / 'set', n_test=0)
    before = digest(root)
    (root / 'train' / 'cat' / 'more').mkdir()
    Image.new('RGB', (32, 32), (1, 2, 3)).save(root / 'train' / 'cat' / 'more' / 'extra.png')
    splits = image_folder_splits(root, settings=settings)
    assert len(splits.train) == 19 and 'lie in sub-folders of their class folder' in capsys.readouterr().out
    assert all(digest(root)[k] == v for k, v in before.items())


def test_class_folders_one_level_too_deep_are_named(tmp_path, settings):
    root = tmp_path / 'deep'
    write_image_folder_fixture(root / 'train', n_valid=0, n_test=0)  # root/train/train/<class>/...
    with pytest.raises(BadDataError, match='one level deeper than expected') as error:
        image_folder_splits(root, settings=settings)
    assert str(root / 'train' / 'train') in str(error.value)


def test_cifar_batch_without_labels_is_refused(tmp_path, settings):
    folder = write_cifar_fixture(tmp_path, n_per_class=5)
    batch = pickle.loads((folder / 'data_batch_2').read_bytes(), encoding='bytes')
    del batch[b'labels']
    (folder / 'data_batch_2').write_bytes(pickle.dumps(batch, protocol=2))
    before = digest(folder)
    with pytest.raises(BadDataError, match="data_batch_2 has no 'labels'"):
        cifar10_splits(tmp_path, settings=settings)
    assert digest(folder) == before


# --- submissions
def test_kaggle_csv_refuses_probabilities_and_leaves_no_file(tmp_path):
    with pytest.raises(BadDataError, match=r'one predicted class per image, shape \(N,\)'):
        write_kaggle_csv(tmp_path / 's.csv', torch.rand(4, 10))
    assert not (tmp_path / 's.csv').exists()


def test_checker_on_a_folder_a_binary_file_and_a_bom(tmp_path):
    with pytest.raises(BadDataError, match='is a folder, not a CSV file'):
        check_submission(tmp_path, range(2))
    (tmp_path / 'image.csv').write_bytes(bytes(range(256)) * 4)
    with pytest.raises(BadDataError, match='is not a text CSV file'):
        check_submission(tmp_path / 'image.csv', range(2))
    (tmp_path / 'bom.csv').write_bytes('\ufeff"Id","Prediction1"\n0,1\n1,2\n'.encode())
    assert len(check_submission(tmp_path / 'bom.csv', range(2), n_classes=3)) == 2


# --- runs: nothing replaced, nothing mixed up
def test_training_into_a_folder_of_another_run_is_refused_and_its_files_kept(small, tmp_path):
    train(tiny_dls(small), tiny_model(), Recipe(epochs=1), run_dir=tmp_path, progress=False)
    before = digest(tmp_path)
    with pytest.raises(
        CheckpointError,
        match='resume=True to go on with that run, another run_dir for a new one, or overwrite=True',
    ):
        train(tiny_dls(small), tiny_model(), Recipe(epochs=2), run_dir=tmp_path, progress=False)
    assert digest(tmp_path) == before


def test_resume_with_another_model_is_refused(small, tmp_path):
    train(tiny_dls(small), tiny_model(), Recipe(epochs=1), run_dir=tmp_path, progress=False)
    other = get_model('two_block_cnn', 10, in_channels=1)
    with pytest.raises(CheckpointError, match='was written for another model'):
        train(tiny_dls(small), other, Recipe(epochs=1), run_dir=tmp_path, resume=True, progress=False)


def test_resume_on_other_data_is_refused(small, tmp_path):
    train(tiny_dls(small), tiny_model(), Recipe(epochs=1), run_dir=tmp_path, progress=False)
    other = Splits(small.valid, small.train, name='digits')
    with pytest.raises(CheckpointError, match='was written for other data'):
        train(
            get_dls(other, 32, 'cpu'),
            tiny_model(),
            Recipe(epochs=1),
            run_dir=tmp_path,
            resume=True,
            progress=False,
        )


def test_stale_temporary_checkpoint_files_are_removed(small, tmp_path, capsys):
    (tmp_path / '.last.pt.12345.tmp').write_bytes(b'half a checkpoint')
    train(tiny_dls(small), tiny_model(), Recipe(epochs=1), run_dir=tmp_path, resume=True, progress=False)
    assert not list(tmp_path.glob('.*.tmp')) and 'a killed run left behind' in capsys.readouterr().out


def test_a_run_dir_that_cannot_be_made_is_named_before_training(small, tmp_path):
    (tmp_path / 'a_file').write_text('x')
    with pytest.raises(SettingsError, match='run_dir .*a_file/run cannot be made'):
        train(
            tiny_dls(small),
            tiny_model(),
            Recipe(epochs=1),
            run_dir=tmp_path / 'a_file' / 'run',
            progress=False,
        )


def test_an_exploding_loss_warns(small):
    class Inflate(Callback):
        order = 12

        def after_loss(self):
            if self.training:
                self.learn.loss = self.learn.loss * 1000.0**self.epoch

    recipe = Recipe(epochs=3, lr=1e-9, schedule='constant')
    with pytest.warns(UserWarning, match='the run is diverging'):
        fit(make_learner(tiny_dls(small), tiny_model(), recipe, progress=False), recipe, cbs=Inflate())


# --- checks at the boundary, before an epoch is spent
@pytest.mark.parametrize(
    'model, message',
    [
        (lambda: get_model('small_cnn', 37, in_channels=1), 'has 37 outputs but the data has 10 classes'),
        (lambda: get_model('small_cnn', 10, in_channels=3), 'takes 3-channel images but the data has 1'),
        (
            lambda: get_model('three_block_cnn', 10, in_channels=1),
            'cannot take the (1, 8, 8) images of the data',
        ),
    ],
)
def test_model_against_data(small, model, message):
    with pytest.raises(SettingsError) as error:
        make_learner(tiny_dls(small), model())
    assert message in str(error.value)


@pytest.mark.parametrize(
    'fields, message',
    [
        (dict(epochs=2.5), 'Recipe epochs=2.5 (float)\n  -> epochs accepts a whole number >= 1'),
        (dict(epochs=True), 'Recipe epochs=True (bool)\n  -> epochs accepts a whole number >= 1'),
        (dict(epochs=0), 'Recipe epochs=0\n  -> epochs accepts a whole number >= 1'),
        (dict(lr='0.01'), "Recipe lr='0.01' (str)\n  -> lr accepts a number"),
        (dict(lr=0), 'Recipe lr=0\n  -> lr accepts a number > 0'),
        (dict(lr=float('nan')), 'Recipe lr=nan (float)\n  -> lr accepts a number'),
        (
            dict(lr=slice(1e-5, 1e-3)),
            "Recipe lr=slice(1e-05, 0.001, None): the kit does not take fastai's slice(lo, hi)\n"
            '  -> give one number for the last group and lr_mult=hi/lo for layer-wise rates '
            '(Recipe(lr=hi, lr_mult=hi/lo))',
        ),
        (dict(phases=[Phase(epochs=0)]), 'Phase epochs=0\n  -> epochs accepts a whole number >= 1'),
        (
            dict(phases=[Phase(2.0, 'all')]),
            'Phase epochs=2.0 (float)\n  -> epochs accepts a whole number >= 1',
        ),
        (dict(phases=[Phase(2, 'head', lr=-1)]), 'Phase lr=-1\n  -> lr accepts a number >= 0'),
        (
            dict(phases=[3]),
            'phase 3 is neither a Phase nor a dict\n'
            "  -> write phases=[Phase(epochs=2, trainable='head'), ...]",
        ),
        (
            dict(phases=[dict(epochs=2, train='head')]),
            "unknown phase field 'train'\n  -> did you mean 'trainable'? accepted: epochs, lr, trainable",
        ),
        (dict(validate_every=0), 'Recipe validate_every=0\n  -> validate_every accepts a whole number >= 1'),
        (dict(weight_decay=-1), 'Recipe weight_decay=-1\n  -> weight_decay accepts a number >= 0'),
        (dict(momentum=-0.1), 'Recipe momentum=-0.1\n  -> momentum accepts a number >= 0'),
        (
            dict(optimizer='adamm'),
            "unknown optimizer 'adamm'\n  -> did you mean 'adam'? accepted: adam, adamw, sgd",
        ),
        (
            dict(schedule='cosine'),
            "unknown schedule 'cosine'\n  -> accepted: constant, exponential, one_cycle, plateau, step",
        ),
        (dict(precision='fp8'), "unknown precision 'fp8'\n  -> accepted: bf16, fp16, fp32"),
    ],
)
def test_recipe_types(fields, message):
    """Each wrong field is refused with its whole message: the owner, the field, the value given and what
    is accepted."""
    with pytest.raises(CourseKitError) as error:
        Recipe(**fields)
    assert str(error.value) == message


def test_recipe_fields_become_plain_numbers_and_defaults_follow_the_schedule():
    recipe = Recipe(epochs=np.int64(3), lr=1, phases=[dict(epochs=3, trainable='head', lr=np.float32(0.5))])
    assert type(recipe.epochs) is int and type(recipe.lr) is float and recipe.lr == 1.0
    assert recipe.phases == [Phase(3, 'head', 0.5)] and type(recipe.phases[0].epochs) is int
    assert (Recipe(schedule='step').gamma, Recipe(schedule='exponential').gamma, Recipe().gamma) == (
        0.1,
        0.95,
        None,
    )
    assert Recipe(schedule='step', gamma=0.5).gamma == 0.5


@pytest.mark.parametrize(
    'call, message',
    [
        (lambda s: get_dls(s, batch_size=0), 'batch_size accepts a whole number >= 1'),
        (lambda s: resize_set(s.train, 0), 'image_size accepts a whole number >= 1'),
        (lambda s: get_model('small_cnn', 0), 'n_classes accepts a whole number >= 1'),
        (lambda s: get_model('small_cnn', 2.0), 'n_classes accepts a whole number >= 1'),
        (lambda s: get_settings(num_workers=-1), 'num_workers accepts a whole number >= 0'),
        (lambda s: get_model('small_cnn', 10, pretrained=True), 'has no pretrained weights'),
    ],
)
def test_counts_and_names(small, call, message):
    with pytest.raises(SettingsError, match=message):
        call(small)


def test_settings_file_without_its_section(tmp_path):
    (tmp_path / 'settings.ini').write_text('data_dir = data\n')
    with pytest.raises(SettingsError, match=r'has no \[course_kit\] section'):
        get_settings(tmp_path / 'settings.ini')


@pytest.mark.parametrize(
    'damage, message',
    [
        (lambda path: path.write_bytes(b'PK\x03\x04 cut short'), 'is damaged or not a weights file'),
        (
            lambda path: torch.save(
                create_transfer_model('resnet34', 1000, pretrained=False).state_dict(), path
            ),
            'holds weights of another architecture',
        ),
    ],
)
def test_damaged_weights_in_the_hub_cache_are_named(tmp_path, monkeypatch, damage, message):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    from course_kit.transfer import get_weights, weights_file

    path = weights_file(get_weights('resnet18'))
    path.parent.mkdir(parents=True)
    damage(path)
    with pytest.raises(WeightsNotFoundError, match=message) as error:
        create_transfer_model('resnet18', 3, allow_download=False)
    assert path.name in str(error.value) and 'delete it and fetch it again' in str(error.value)


# --- reports and the command line
def test_report_says_it_ignores_data_root_in_smoke(tmp_path, capsys):
    ReportRun('d_cifar10', 'smoke', out_dir=str(tmp_path), device='cpu', data_root='/my/cifar')
    assert "data_root='/my/cifar' is ignored" in capsys.readouterr().out


def test_report_out_dir_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / 'a_file').write_text('x')
    with pytest.raises(SettingsError, match='out_dir .*a_file/out cannot be made'):
        ReportRun('d_cifar10', 'smoke', out_dir=str(tmp_path / 'a_file' / 'out'))


def test_profile_for_a_report_without_profiles_is_refused(out_env):
    result = run_command([CLI, 'report', 'run', 'quickstart', '--profile', 'smoke'], out_env)
    assert (
        result.returncode == 2
        and "report 'quickstart' has no profiles" in result.stderr
        and 'Traceback' not in result.stderr
    )


def test_reports_read_the_device_setting(out_env):
    """COURSE_KIT_DEVICE reaches the report: asking for a GPU this machine lacks stops it with the kit's
    message."""
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    result = run_command(
        [CLI, 'report', 'run', 'quickstart', '-p', 'epochs', '1'], {**out_env, 'COURSE_KIT_DEVICE': 'cuda'}
    )
    assert result.returncode == 1 and 'no CUDA GPU' in result.stderr


def test_unwritable_reports_out_is_named_before_running(tmp_path):
    (tmp_path / 'a_file').write_text('x')
    result = run_command(
        [CLI, 'report', 'run', 'quickstart'], {'COURSE_KIT_REPORTS_OUT': str(tmp_path / 'a_file' / 'out')}
    )
    assert result.returncode == 2 and 'reports_out' in result.stderr and 'Traceback' not in result.stderr
