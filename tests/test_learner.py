"""Training loop: resume equivalence, checkpoints, schedules, phases (the checks too long or too awkward for
nbs/06_learner)."""

import copy
import gc
from pathlib import Path

import pytest
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.fp16 import MixedPrecision

from course_kit.core import CheckpointError, SettingsError, TrainingDiverged, seed_everything
from course_kit.data import ImageSet, Splits, get_dls
from course_kit.models import get_model
from course_kit.runs import history_of
import course_kit.checkpoints as checkpoints_module
from course_kit.recipe import ChannelsLast, Phase, Recipe, group_lrs, training_precision
from course_kit.learner import fit, make_learner
from course_kit.checkpoints import load_checkpoint
from course_kit.training import train


pytestmark = pytest.mark.usefixtures('one_thread')  # (`one_thread` and `small` are in conftest.py)


class Interrupt(Callback):
    "Stops the fit after epoch `after`, as a crash would (the checkpoint of that epoch is written)."

    order = 99

    def __init__(self, after):
        self.after = after

    def after_epoch(self):
        if self.epoch == self.after:
            raise CancelFitException()


def run(small, run_dir, recipe, resume=False, cbs=None):
    seed_everything(0)
    model = get_model('small_cnn', 10, in_channels=1, widths=(8, 16), dropout=0.2)
    dls = get_dls(small, batch_size=32, device='cpu', normalize=([0.5], [0.5]))
    return train(dls, model, recipe, run_dir=run_dir, resume=resume, cbs=cbs, progress=False).learn


def assert_same_run(a, b):
    assert list(map(list, a.recorder.values)) == list(map(list, b.recorder.values))
    for (name, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(x, y), name


RECIPES = {
    'one_cycle, phases, layer-wise lr': (
        Recipe(
            optimizer='adamw',
            weight_decay=0.01,
            lr_mult=10,
            label_smoothing=0.1,
            phases=[Phase(2, 'head', lr=0.05), Phase(3, 'all', lr=0.01)],
        ),
        [1, 2],
    ),
    'plateau, validate every 2, clipping': (
        Recipe(
            epochs=5,
            lr=0.1,
            optimizer='sgd',
            weight_decay=1e-4,
            schedule='plateau',
            plateau_patience=1,
            validate_every=2,
            grad_clip=1.0,
            keep_best=True,
        ),
        [1, 2],
    ),
    'exponential, adam, best checkpoint': (
        Recipe(epochs=4, lr=0.01, schedule='exponential', gamma=0.8, keep_best=True),
        [0, 2],
    ),
    'step across phases': (
        Recipe(
            lr=0.05,
            optimizer='sgd',
            schedule='step',
            step_size=1,
            gamma=0.5,
            phases=[Phase(2, ['0', 'head']), Phase(2, 'all', lr=0.02)],
        ),
        [2],
    ),
}


@pytest.mark.parametrize('name', list(RECIPES))
def test_resume_matches_uninterrupted(small, tmp_path, name):
    recipe, stops = RECIPES[name]
    whole = run(small, tmp_path / 'whole', recipe)
    for stop in stops:
        folder = tmp_path / f'stopped_after_{stop}'
        run(small, folder, recipe, cbs=Interrupt(stop))
        assert load_checkpoint(folder / 'last.pt')['epoch'] == stop
        resumed = run(small, folder, recipe, resume=True)
        assert_same_run(whole, resumed)
        if recipe.keep_best:
            assert (
                load_checkpoint(folder / 'best.pt')['epoch']
                == load_checkpoint(tmp_path / 'whole' / 'best.pt')['epoch']
            )


def test_resume_of_a_finished_run_trains_nothing(small, tmp_path):
    recipe = Recipe(epochs=2, lr=0.01)
    whole = run(small, tmp_path, recipe)
    before = (tmp_path / 'last.pt').stat().st_mtime_ns
    again = run(small, tmp_path, recipe, resume=True)
    assert_same_run(whole, again)
    assert (tmp_path / 'last.pt').stat().st_mtime_ns == before


def test_resume_after_early_stop_stays_stopped(small, tmp_path):
    recipe = Recipe(epochs=8, lr=1e-12, schedule='constant', early_stopping=1)
    whole = run(small, tmp_path, recipe)
    assert len(whole.recorder.values) < 8
    again = run(small, tmp_path, recipe, resume=True)
    assert_same_run(whole, again)


def test_best_checkpoint_is_the_best_epoch(small, tmp_path):
    learn = run(
        small,
        tmp_path,
        Recipe(epochs=5, lr=0.05, optimizer='sgd', schedule='constant', keep_best=True, monitor='valid_loss'),
    )
    losses = [row[2] for row in learn.recorder.values]
    best = load_checkpoint(tmp_path / 'best.pt')
    assert best['epoch'] == losses.index(min(losses))
    model = get_model('small_cnn', 10, in_channels=1, widths=(8, 16), dropout=0.2)
    model.load_state_dict(best['model'])  # the weights of that epoch load into a fresh model


def test_truncated_checkpoint_falls_back_to_previous_and_is_kept(small, tmp_path):
    recipe = Recipe(epochs=2, lr=0.01)
    whole = run(small, tmp_path / 'whole', recipe)
    run(small, tmp_path / 'run', recipe)
    last = tmp_path / 'run' / 'last.pt'
    damaged = last.read_bytes()[: len(last.read_bytes()) // 2]
    last.write_bytes(damaged)
    resumed = run(small, tmp_path / 'run', recipe, resume=True)  # goes on from previous.pt (epoch 0)
    assert_same_run(whole, resumed)
    assert (tmp_path / 'run' / 'last.pt.damaged').read_bytes() == damaged  # kept, for the user to inspect


def test_truncated_checkpoint_without_previous_is_refused_and_kept(small, tmp_path):
    recipe = Recipe(epochs=1, lr=0.01)
    run(small, tmp_path, recipe)
    last = tmp_path / 'last.pt'
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated or not a torch file'):
        run(small, tmp_path, recipe, resume=True)
    assert last.read_bytes() == data[: len(data) // 2]  # left as it was


def test_failed_write_keeps_the_previous_checkpoint(small, tmp_path, monkeypatch):
    recipe = Recipe(epochs=3, lr=0.01)
    real_save = torch.save

    def save(obj, path):
        if obj['epoch'] == 1:
            Path(path).write_bytes(b'PK half a file')
            raise OSError('disk full')
        real_save(obj, path)

    monkeypatch.setattr(checkpoints_module.torch, 'save', save)
    with pytest.raises(OSError, match='disk full'):
        run(small, tmp_path, recipe)
    monkeypatch.setattr(checkpoints_module.torch, 'save', real_save)
    assert load_checkpoint(tmp_path / 'last.pt')['epoch'] == 0
    assert [p.name for p in tmp_path.iterdir()] == ['last.pt']  # no temporary file left behind
    resumed = run(small, tmp_path, recipe, resume=True)
    assert_same_run(run(small, tmp_path / 'whole', recipe), resumed)


def test_resume_with_another_recipe_is_refused(small, tmp_path):
    run(small, tmp_path, Recipe(epochs=2, lr=0.01))
    with pytest.raises(CheckpointError, match='changed: lr'):
        run(small, tmp_path, Recipe(epochs=2, lr=0.02), resume=True)


def test_resume_needs_a_run_dir(small):
    with pytest.raises(SettingsError, match='needs a run_dir'):
        run(small, None, Recipe(epochs=1), resume=True)


def test_diverging_run_stops_and_keeps_last_good_checkpoint(small, tmp_path):
    class HugeLRFrom(Callback):
        "From epoch 1 on, a learning rate that makes the weights overflow."

        order = 61  # after Schedule

        def before_batch(self):
            if self.epoch >= 1 and self.training:
                self.learn.opt.set_hyper('lr', 1e30)

    with pytest.raises(TrainingDiverged, match='the loss became (nan|inf) in epoch 1'):
        run(
            small, tmp_path, Recipe(epochs=3, lr=0.01, optimizer='sgd', schedule='constant'), cbs=HugeLRFrom()
        )
    assert load_checkpoint(tmp_path / 'last.pt')['epoch'] == 0


def test_layerwise_learning_rates(small):
    dls = get_dls(small, batch_size=32, device='cpu')
    recipe = Recipe(epochs=1, lr=0.01, lr_mult=100, schedule='constant')
    learn = make_learner(
        dls, get_model('small_cnn', 10, in_channels=1, widths=(8, 16)), recipe, progress=False
    )
    fit(learn, recipe)
    assert [h['lr'] for h in learn.opt.hypers] == pytest.approx([1e-4, 1e-3, 1e-2])
    assert group_lrs(0.01, 3, 100) == pytest.approx([1e-4, 1e-3, 1e-2])


def test_validate_every_gives_none_rows_in_history(small, tmp_path):
    learn = run(small, tmp_path, Recipe(epochs=5, lr=0.01, validate_every=2))
    history = history_of(learn)
    assert [row['valid_accuracy'] is None for row in history] == [True, False, True, False, False]
    assert all(row['train_accuracy'] is not None for row in history)
    assert all(row['train_loss'] is not None for row in history)


def test_gpu_switches_are_ignored_on_cpu(small):
    dls = get_dls(small, batch_size=32, device='cpu')
    model = get_model('small_cnn', 10, in_channels=1, widths=(8, 16))
    recipe = Recipe(epochs=1, precision='fp16', channels_last=True, compile=True)
    learn = make_learner(dls, model, recipe, progress=False)
    assert not any(isinstance(cb, (MixedPrecision, ChannelsLast)) for cb in learn.cbs)
    assert training_precision(recipe.precision, dls.device) == (
        'fp32',
        'fp16 was asked for, but mixed precision is for CUDA GPUs and this run is on cpu',
    )
    fit(learn, recipe)
    # not compiled, not channels_last: the 8 -> 16 convolution (a 1-channel one is the same in both formats)
    assert learn.model is model and model[1][0].weight.is_contiguous()
    assert not model[1][0].weight.is_contiguous(memory_format=torch.channels_last)


def test_channels_last_callback_converts_model_and_batches(small):
    "The GPU-only switch itself, forced on a CPU learner: model weights and input batches in channels_last."

    class SeeBatch(Callback):
        order = 0  # after ChannelsLast (-1)

        def before_batch(self):
            self.seen = self.learn.xb[0].is_contiguous(memory_format=torch.channels_last)

    colour = Splits(
        *(
            ImageSet(part.images.repeat(1, 3, 1, 1), part.labels, part.classes)
            for part in (small.train, small.valid)
        )
    )
    # 3 channels: with 1, both memory formats are the same
    dls = get_dls(colour, batch_size=32, device='cpu')
    seen = SeeBatch()
    recipe = Recipe(epochs=1)
    model = get_model('small_cnn', 10, in_channels=3, widths=(8, 16))
    learn = make_learner(dls, model, recipe, cbs=[ChannelsLast(), seen], progress=False)
    assert not learn.model[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    fit(learn, recipe)
    assert seen.seen and learn.model[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not learn.model[0][0].weight.is_contiguous()  # 3 input channels: the two formats differ


def test_resume_with_other_data_is_refused_naming_what_changed(small, tmp_path):
    recipe = Recipe(epochs=1, lr=0.01)
    run(small, tmp_path, recipe)
    fewer, relabelled, flipped = (copy.copy(small) for _ in range(3))
    fewer.train = small.train.subset(range(64))
    train = small.train
    relabelled.train = ImageSet(train.images, (train.labels + 1) % 10, train.classes)
    flipped.train = ImageSet(train.images.flip(-1), train.labels, train.classes)
    for other, said in ((fewer, 'train: 96 then, 64 now'), (relabelled, 'labels: '), (flipped, 'images: ')):
        with pytest.raises(CheckpointError, match='was written for other data') as refused:
            run(other, tmp_path, recipe, resume=True)
        assert said in str(refused.value) and 'or use another run_dir' in str(refused.value)


def test_resume_with_another_number_of_processes_is_refused(small, tmp_path):
    recipe = Recipe(epochs=1, lr=0.01)
    run(small, tmp_path, recipe)
    checkpoint = torch.load(tmp_path / 'last.pt', weights_only=False)
    checkpoint['processes'] = 2
    torch.save(checkpoint, tmp_path / 'last.pt')
    with pytest.raises(CheckpointError) as refused:
        run(small, tmp_path, recipe, resume=True)
    assert str(refused.value) == (
        f'{tmp_path / "last.pt"} was written by 2 process(es), and this run has 1\n'
        '  -> resume with the same number, e.g. torchrun --nproc_per_node 2'
    )


def test_a_finished_run_goes_on_with_more_epochs_and_nothing_else(small, tmp_path):
    constant = dict(lr=0.01, schedule='constant')
    whole = run(small, tmp_path / 'whole', Recipe(epochs=3, **constant))
    run(small, tmp_path / 'run', Recipe(epochs=2, **constant))
    more = run(small, tmp_path / 'run', Recipe(epochs=3, **constant), resume=True)
    assert_same_run(whole, more)  # two epochs, then a third: as three in one go
    with pytest.raises(CheckpointError) as refused:
        run(small, tmp_path / 'run', Recipe(epochs=4, lr=0.02, schedule='constant'), resume=True)
    assert 'changed: epochs, lr) (a finished run can be given more epochs, and nothing else)' in str(
        refused.value
    )


def test_an_unfinished_run_cannot_change_its_epochs(small, tmp_path):
    recipe = Recipe(epochs=3, lr=0.01)
    run(small, tmp_path, recipe, cbs=Interrupt(0))
    with pytest.raises(CheckpointError, match=r'changed: epochs\) \(a finished run can be given more'):
        run(small, tmp_path, Recipe(epochs=4, lr=0.01), resume=True)


def test_a_rehearsal_keeps_the_validations_a_recipe_skips(small, monkeypatch):
    "Found by report D's rehearsal: a rehearsal cut short only what it cut (validate_every stays as it was)."
    monkeypatch.setenv('COURSE_KIT_REHEARSE', '1')
    recipe = Recipe(epochs=3, lr=0.01, validate_every=2)
    learn = make_learner(
        get_dls(small, batch_size=32, device='cpu'), get_model('small_cnn', 10, in_channels=1), recipe
    )
    fit(learn, recipe)
    assert [row[2] is None for row in learn.recorder.values] == [True, False, False]
    assert len(learn.rehearsal.seconds) == 3  # one training batch an epoch


def live_tensor_bytes() -> int:
    gc.collect()
    return sum(o.untyped_storage().nbytes() for o in gc.get_objects() if torch.is_tensor(o))


def test_a_finished_training_keeps_no_tensors_alive(small):
    "Found by report E's rehearsal: each `train` kept a copy of the model alive (+0.4 GB a row for AlexNet)."
    dls = get_dls(small, batch_size=32, device='cpu')

    def one_run():
        model = get_model('small_cnn', 10, in_channels=1, widths=(64, 128))  # 0.3 MB of weights
        train(dls, model, Recipe(epochs=1, lr=0.01), 'row', 'digits', progress=False).free()

    one_run()  # the first run fills caches that stay (fastai's, torch's)
    before = live_tensor_bytes()
    for _ in range(3):
        one_run()
    assert live_tensor_bytes() - before < 100_000, 'a model (or its graph) outlived its run'
