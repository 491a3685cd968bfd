"""Homework as a new student writes it: in a folder of their own (no settings.ini), with the names fastai's
course and torchvision's tutorials taught them. Each habit works, or ends in one line naming the kit's way."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path
import pytest

HOMEWORK = """
from pathlib import Path
import torch
from torchvision.transforms.v2 import functional as TF
from course_kit.core import CourseKitError
from course_kit.data import digits_splits, get_dls
from course_kit.folders import image_folder_splits
from course_kit.models import get_model
from course_kit.recipe import Recipe
from course_kit.training import train


def one_line(call):
    "The kit's error of `call`: its message and fix, and nothing else."
    try:
        call()
    except CourseKitError as e:
        print('ERROR', str(e).replace(chr(10), ' | '))
    else:
        print('ERROR none')


splits = digits_splits(valid_pct=0.2, seed=0)  # fastai's valid_pct
dls = get_dls(splits, bs=32, device='cpu')  # fastai's bs
model = get_model('small_cnn', num_classes=10, in_channels=1, widths=(8, 16))  # torchvision's num_classes
result = train(dls, model, Recipe(epochs=2, lr=3e-3), progress=False)
learn = result.learn
TF.to_pil_image(splits.test.images[0]).save('my_digit.png')
label, index, probs = learn.predict('my_digit.png')
print('PREDICT', label, int(index), round(float(probs.sum()), 4))
print('TEST', len(dls.test.dataset), len(learn.dls.test_dl(['my_digit.png', splits.test.images[1]]).dataset))
one_line(lambda: get_dls(splits, mean=[0.5], std=[0.5]))
one_line(lambda: get_dls(splits, batchsize=32))
one_line(lambda: learn.load('best'))
one_line(lambda: digits_splits(valid_pct=0.2, valid=0.1))
for i in range(6):  # a folder of their own photos: decoded once, cached in the per-user folder
    folder = Path('pets/train', ['cat', 'dog'][i % 2])
    folder.mkdir(parents=True, exist_ok=True)
    TF.to_pil_image(torch.full((3, 20, 20), 40 * i, dtype=torch.uint8)).save(folder / f'{i}.png')
pets = image_folder_splits('pets', image_size=(16, 12), valid=2, channels=1, classes=['dog', 'cat'])
print('PETS', pets.train.image_shape, pets.classes)
"""


def homework(folder: Path, env: dict) -> subprocess.CompletedProcess:
    (folder / 'homework.py').write_text(textwrap.dedent(HOMEWORK))
    return subprocess.run(
        [sys.executable, 'homework.py'], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope='module')
def outside(tmp_path_factory):
    "A student's own folder, outside the repository, with a home of its own; the homework run twice."
    folder = tmp_path_factory.mktemp('homework')
    env = {k: v for k, v in os.environ.items() if not k.startswith('COURSE_KIT_')}
    env.update(XDG_CACHE_HOME=str(folder / 'cache'), OMP_NUM_THREADS='1')
    first = homework(folder, env)
    second = homework(folder, env)
    return folder, first, second


def lines(done, start):
    return [line for line in done.stdout.splitlines() if line.startswith(start)]


def test_the_familiar_names_train_and_predict(outside):
    _, first, _ = outside
    assert first.returncode == 0, first.stderr[-3000:]
    (predict,) = lines(first, 'PREDICT')
    assert predict.endswith(' 1.0'), predict  # probabilities that sum to one
    assert lines(first, 'TEST') == [f'TEST {round(1797 * 0.15 + 0.5)} 2']


def test_other_habits_end_in_one_line_naming_the_kits_way(outside):
    _, first, _ = outside
    errors = lines(first, 'ERROR')
    assert len(errors) == 4, first.stdout
    assert 'the kit spells it normalize=(mean, std)' in errors[0]
    assert "did you mean 'batch_size'" in errors[1]
    assert 'learn.save has written: nothing' in errors[2] and 'load_best' in errors[2]
    assert 'got both valid_pct= and valid=' in errors[3]
    assert 'Traceback' not in first.stderr


def test_data_goes_to_one_place_per_user_said_once(outside):
    folder, first, second = outside
    said = 'course_kit keeps data sets and caches in'
    assert first.stdout.count(said) == 1 and said not in second.stdout, first.stdout
    assert list((folder / 'cache' / 'course_kit' / 'cache').glob('*.pt'))  # the decoded photos
    assert not (folder / 'data').exists()  # nothing in the homework folder
    assert lines(first, 'PETS') == ["PETS (1, 16, 12) ['dog', 'cat']"]
