"""Checkpoints (course_kit.checkpoints): what a checkpoint holds, the errors that refuse a file or a resume
(word for word), and when the files are written. Each value is checked against one worked out here, with
torch, numpy or hashlib, or by hand. (tests/test_learner.py checks that a resumed run matches one that was
not interrupted.)"""

import hashlib
import io
import pickle
import random
import shutil
from contextlib import redirect_stdout
from datetime import timedelta

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.data.core import DataLoaders
from fastai.torch_core import TensorBase
from fastcore.foundation import L
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_kit.checkpoints import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    check_resumable,
    checkpoint_callbacks,
    data_signature,
    digest,
    every_rank,
    load_checkpoint,
    plain,
    prepare_run_dir,
    resume_from,
    rng_states,
    save_checkpoint,
    set_rng_states,
    stateful_callbacks,
    this_rank,
    unwrapped,
)
from course_kit.core import CheckpointError, seed_everything
from course_kit.data import digits_splits, get_dls
from course_kit.learner import fit, make_learner
from course_kit.models import get_model
from course_kit.recipe import Recipe

pytestmark = pytest.mark.usefixtures('one_thread')  # (`one_thread` and `small` are in conftest.py)

# what every refused resume tells the user to do
RESUME_FIX = (
    'resume with the recipe, data and model of that run; or use another run_dir; or train with '
    'overwrite=True to replace it'
)

# the note of the finished 2-epoch run (the `finished` fixture) given a third epoch
EXTENDED = (
    'extended from 2 to 3 epochs: epochs 1-2 trained on the 2-epoch one_cycle schedule, epochs 3-3 on the '
    '3-epoch one from its epoch 3'
)


def learner(small, recipe, widths=(8, 16)):
    "A small CNN on the 96 training digits, on the CPU."
    seed_everything(0)
    model = get_model('small_cnn', 10, in_channels=1, widths=widths)
    dls = get_dls(small, batch_size=32, device='cpu', normalize=([0.5], [0.5]))
    return make_learner(dls, model, recipe, progress=False)


@pytest.fixture(scope='module')
def finished(small, tmp_path_factory):
    "A finished 2-epoch run with keep_best: `(learner, recipe, run folder)` (last.pt, best.pt, previous.pt)."
    run_dir = tmp_path_factory.mktemp('finished')
    recipe = Recipe(epochs=2, lr=0.01, keep_best=True)
    learn = learner(small, recipe)
    callbacks, start_epoch, notes = checkpoint_callbacks(learn, recipe, run_dir)
    assert (start_epoch, notes) == (0, [])
    fit(learn, recipe, cbs=callbacks)
    return learn, recipe, run_dir


@pytest.fixture
def run_copy(finished, tmp_path):
    "A copy of the finished run's folder, for a test to change."
    return shutil.copytree(finished[2], tmp_path / 'run')


class LastEpochs(Callback):
    "After each epoch, once `Checkpoint` (order 90) is done: the epoch in run_dir/last.pt (None: no file)."

    order = 95

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.seen = []

    def after_epoch(self):
        last = self.run_dir / 'last.pt'
        self.seen.append(load_checkpoint(last)['epoch'] if last.exists() else None)


# ---- plain values, random generators, processes


def test_plain_turns_numpy_and_fastai_values_into_plain_ones():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    weight = nn.Parameter(torch.ones(2))
    tensor = torch.zeros(3)
    value = {
        'pair': (np.float32(0.5), array),
        'list': L([np.int64(3)]),
        'fastai': TensorBase(torch.tensor([1.0, 2.0])),
        'weight': weight,
        'tensor': tensor,
    }
    out = plain(value)
    array[0, 0] = 100  # the checkpoint holds a copy
    assert type(out['pair']) is tuple
    assert out['pair'][0] == 0.5 and type(out['pair'][0]) is float
    assert torch.equal(out['pair'][1], torch.arange(6.0).reshape(2, 3))
    assert out['list'] == [3] and type(out['list'][0]) is int
    assert type(out['fastai']) is torch.Tensor
    assert torch.equal(out['fastai'], torch.tensor([1.0, 2.0]))
    # plain tensors and parameters stay as they are
    assert out['weight'] is weight and out['tensor'] is tensor


def draws() -> tuple:
    "One number from each of python's, numpy's and torch's generators."
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_states_without_loaders_put_back_the_same_numbers():
    states = rng_states()
    assert states['loader'] is None
    # one state per GPU: an empty list without one
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert isinstance(states['cuda'], list) and len(states['cuda']) == gpus
    keys = np.random.get_state()[1]
    assert states['numpy'][1].dtype == torch.int64  # a uint32 tensor would not load everywhere
    assert np.array_equal(states['numpy'][1].numpy(), keys.astype(np.int64))
    assert torch.equal(states['torch'], torch.get_rng_state())
    expected = draws()
    set_rng_states(states)
    assert draws() == expected


def test_loader_generator_state_is_saved_and_put_back(small):
    dls = get_dls(small, batch_size=32, device='cpu')
    generator = dls.train.generator
    states = rng_states(dls)
    assert torch.equal(states['loader'], generator.get_state())
    first = torch.randperm(10, generator=generator)
    set_rng_states(states, dls)
    assert torch.equal(torch.randperm(10, generator=generator), first)
    # states saved without loaders leave the loader's generator where it is
    second = generator.get_state()
    set_rng_states(rng_states(), dls)
    assert torch.equal(generator.get_state(), second)


def test_this_rank_picks_the_states_of_this_process(monkeypatch):
    "torchrun tells each process its rank and the number of processes in RANK and WORLD_SIZE."
    saved = [{'rank': 0}, {'rank': 1}]
    monkeypatch.setenv('WORLD_SIZE', '2')
    for rank in (0, 1):
        monkeypatch.setenv('RANK', str(rank))
        assert this_rank(saved) == {'rank': rank}
    assert this_rank({'rank': 0}) == {'rank': 0}  # one process saves its own states, not a list


def test_unwrapped_takes_the_model_out_of_its_wrapper():
    model = nn.Linear(2, 2)
    assert unwrapped(nn.DataParallel(model)) is model  # (DistributedDataParallel keeps it as .module too)
    assert unwrapped(model) is model


# ---- what identifies the data


def test_digest_is_the_start_of_the_sha1_of_the_bytes():
    a = torch.arange(10, dtype=torch.uint8)
    b = torch.tensor([1, 2], dtype=torch.int64)
    assert digest(a) == hashlib.sha1(bytes(range(10))).hexdigest()[:16]
    assert digest(a, b) == hashlib.sha1(bytes(range(10)) + b.numpy().tobytes()).hexdigest()[:16]
    assert len(digest(a)) == 16


def test_data_signature_of_the_kit_loaders():
    splits = digits_splits(seed=0)  # 1,257 training images: more than the 256 the signature hashes
    dls = get_dls(splits, batch_size=64, device='cpu')
    train = splits.train
    assert data_signature(dls) == dict(
        train=1257,
        valid=270,
        classes=['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
        labels=hashlib.sha1(train.labels.numpy().tobytes()).hexdigest()[:16],
        images=hashlib.sha1(train.images[:256].numpy().tobytes()).hexdigest()[:16],
    )


def test_data_signature_of_loaders_without_classes_labels_or_images():
    "Plain torch data sets have none of these: the signature keeps their sizes only."
    x, y = torch.zeros(8, 1, 4, 4), torch.zeros(8, dtype=torch.long)
    dls = DataLoaders(DataLoader(TensorDataset(x, y)), DataLoader(TensorDataset(x[:4], y[:4])))
    assert data_signature(dls) == dict(train=8, valid=4, classes=[], labels=None, images=None)


# ---- what a checkpoint holds


class SavesOnly(Callback):
    "A callback with a state but no way to load it back."

    def state_dict(self):
        return {}


class SavesAndLoads(SavesOnly):
    def load_state_dict(self, state):
        pass


def test_stateful_callbacks_are_those_that_save_and_load(small):
    learn = learner(small, Recipe(epochs=1))
    saves_only, saves_and_loads = SavesOnly(), SavesAndLoads()
    learn.add_cbs([saves_only, saves_and_loads])
    kept = stateful_callbacks(learn)
    assert saves_and_loads in kept
    assert saves_only not in kept


def test_a_checkpoint_names_its_run(finished):
    learn, recipe, run_dir = finished
    last = load_checkpoint(run_dir / 'last.pt')
    assert last['format'] == CHECKPOINT_FORMAT and last['epoch'] == 1
    assert last['processes'] == 1
    assert last['model_name'] == 'SmallCNN'
    assert last['metric_names'] == [
        'epoch',
        'train_loss',
        'train_accuracy',
        'valid_loss',
        'valid_accuracy',
        'time',
    ]
    assert last['torch_version'] == torch.__version__
    assert last['recipe'] == recipe.as_dict()
    assert last['data'] == data_signature(learn.dls)
    # the best epoch of valid_accuracy (the recipe's monitor), found here from the recorded rows
    accuracies = [row[3] for row in learn.recorder.values]
    best_epoch = int(np.argmax(accuracies))
    assert last['callbacks']['checkpoint'] == {
        'best': pytest.approx(max(accuracies)),
        'best_epoch': best_epoch,
    }
    assert load_checkpoint(run_dir / 'best.pt')['epoch'] == best_epoch


def test_a_run_without_keep_best_has_no_best_epoch(tmp_path):
    assert Checkpoint(tmp_path, Recipe(epochs=1)).state_dict() == {'best': None, 'best_epoch': None}


def test_save_checkpoint_keeps_the_previous_file_only_when_asked(finished, tmp_path):
    learn, recipe, _ = finished
    path = tmp_path / 'last.pt'
    save_checkpoint(learn, path, recipe)
    save_checkpoint(learn, path, recipe)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['last.pt']
    save_checkpoint(learn, path, recipe, keep_previous=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['last.pt', 'previous.pt']


# ---- files load_checkpoint refuses, and where it puts the tensors


def test_a_missing_checkpoint_is_refused(tmp_path):
    path = tmp_path / 'last.pt'
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == (
        f'no checkpoint at {path}\n  -> check the run folder, or train with resume=False to start a new run'
    )


def safe_load_error(path) -> str:
    "The message of the error torch's safe loading raises for `path`."
    with pytest.raises(pickle.UnpicklingError) as refused:
        torch.load(path, weights_only=True)
    return str(refused.value)


def test_a_file_with_unsafe_objects_is_refused_naming_the_object(tmp_path, monkeypatch):
    path = tmp_path / 'last.pt'
    torch.save({'format': CHECKPOINT_FORMAT, 'recipe': Recipe(epochs=1)}, path)  # an object, not a dict
    lines = [line.strip() for line in safe_load_error(path).splitlines() if 'Unsupported' in line]
    assert len(lines) == 1 and 'GLOBAL course_kit.recipe.Recipe was not an allowed global' in lines[0]
    expected = (
        f'{path} holds objects that safe loading (weights_only=True) refuses ({lines[0][:160]})\n'
        f'  -> load only checkpoints written by course_kit; {path} is left as it is'
    )
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == expected
    # also where torch is told to load unsafely by default: the kit asks for safe loading itself
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == expected


def test_a_file_safe_loading_refuses_for_another_reason_is_refused_with_its_first_line(tmp_path):
    path = tmp_path / 'last.pt'
    path.write_bytes(b'\x80\x02}K\x01a.')  # a pickle that appends 1 to a dict: no class in it, but refused
    message = safe_load_error(path)
    assert 'Unsupported' not in message
    first = message.splitlines()[0]
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == (
        f'{path} holds objects that safe loading (weights_only=True) refuses ({first[:160]})\n'
        f'  -> load only checkpoints written by course_kit; {path} is left as it is'
    )


def test_a_truncated_file_is_refused(finished, tmp_path):
    path = tmp_path / 'last.pt'
    whole = (finished[2] / 'last.pt').read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(Exception) as failed:
        torch.load(path, weights_only=True)
    error = failed.value
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == (
        f'{path} is truncated or not a torch file ({type(error).__name__}: {str(error)[:120]})\n'
        '  -> it was not written completely or is another kind of file; resume=True falls back to '
        f'previous.pt when there is one; {path} is left as it is'
    )


def test_a_bare_state_dict_or_tensor_is_refused_saying_what_it_holds(tmp_path):
    path = tmp_path / 'weights.pt'
    fix = (
        '  -> a bare state_dict loads with model.load_state_dict(torch.load(path, weights_only=True)); '
        f'{path} is left as it is'
    )
    torch.save(nn.Linear(2, 3).state_dict(), path)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == (
        f"{path} is not a course_kit checkpoint (it holds a dict with keys ['bias', 'weight'], without "
        f"format='course_kit-checkpoint-v1')\n{fix}"
    )
    torch.save(torch.zeros(2), path)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == (
        f'{path} is not a course_kit checkpoint (it holds a Tensor, without '
        f"format='course_kit-checkpoint-v1')\n{fix}"
    )


def test_load_checkpoint_puts_the_tensors_on_the_device_asked_for(finished):
    "The meta device (tensors without data) stands in for a GPU here."
    path = finished[2] / 'last.pt'
    assert load_checkpoint(path)['model']['5.weight'].device == torch.device('cpu')
    on_meta = load_checkpoint(path, device='meta')['model']['5.weight']
    assert on_meta.device == torch.device('meta') and on_meta.shape == (10, 16)


# ---- the checks before a resume


def test_an_older_checkpoint_without_processes_or_data_resumes(finished):
    learn, recipe, run_dir = finished
    checkpoint = load_checkpoint(run_dir / 'last.pt')
    del checkpoint['processes'], checkpoint['data']  # what a checkpoint of an earlier kit holds
    assert check_resumable(checkpoint, run_dir / 'last.pt', learn, recipe) == ''


def test_resume_with_another_learning_rate_is_refused(finished):
    learn, recipe, run_dir = finished
    path = run_dir / 'last.pt'
    with pytest.raises(CheckpointError) as refused:
        check_resumable(load_checkpoint(path), path, learn, Recipe(epochs=2, lr=0.02, keep_best=True))
    assert str(refused.value) == f'{path} was written by a different recipe (changed: lr)\n  -> {RESUME_FIX}'


def test_resume_with_another_model_is_refused_counting_the_layers(finished, small):
    _, recipe, run_dir = finished
    path = run_dir / 'last.pt'
    wider = learner(small, recipe, widths=(8, 32))
    with pytest.raises(CheckpointError) as refused:
        check_resumable(load_checkpoint(path), path, wider, recipe)
    # 1.0.weight, the four tensors of the batch norm 1.1 but its count, and 5.weight have 32 inputs, not 16
    assert str(refused.value) == (
        f'{path} was written for another model (SmallCNN, not SmallCNN): 0 layers missing, 0 unexpected, '
        f'6 of another shape (first: 1.0.weight)\n  -> {RESUME_FIX}'
    )


def test_a_finished_run_given_more_epochs_is_extended(finished):
    learn, _, run_dir = finished
    path = run_dir / 'last.pt'
    longer = Recipe(epochs=3, lr=0.01, keep_best=True)
    assert check_resumable(load_checkpoint(path), path, learn, longer) == EXTENDED


# ---- the Checkpoint callback


def test_checkpoint_writes_last_every_k_epochs_and_after_the_last(small, tmp_path):
    recipe = Recipe(epochs=4, lr=0.01, schedule='constant')
    learn = learner(small, recipe)
    callbacks, _, _ = checkpoint_callbacks(learn, recipe, tmp_path, every=3)
    seen = LastEpochs(tmp_path)
    fit(learn, recipe, cbs=[*callbacks, seen])
    assert seen.seen == [None, None, 2, 3]  # after epoch 3 (the 3rd) and epoch 4 (the last)


def test_checkpoint_writes_last_every_epoch_by_default(small, tmp_path):
    recipe = Recipe(epochs=2, lr=0.01, schedule='constant')
    learn = learner(small, recipe)
    seen = LastEpochs(tmp_path)
    fit(learn, recipe, cbs=[Checkpoint(tmp_path, recipe), seen])
    assert seen.seen == [0, 1]


class BestAtStart(Callback):
    "Keeps what `checkpoint` holds as best once every before_fit has run, then stops the fit."

    order = 100

    def __init__(self, checkpoint):
        self.checkpoint = checkpoint

    def before_fit(self):
        self.best = (self.checkpoint.best, self.checkpoint.best_epoch)
        raise CancelFitException()


def test_a_restored_best_survives_the_start_of_the_fit(small, tmp_path):
    "Restore (order -100) loads the saved best before Checkpoint's before_fit: that must not reset it."
    recipe = Recipe(epochs=2, lr=0.01, keep_best=True)
    learn = learner(small, recipe)
    checkpoint = Checkpoint(tmp_path, recipe, start_epoch=1)
    checkpoint.load_state_dict({'best': 0.75, 'best_epoch': 0})
    at_start = BestAtStart(checkpoint)
    fit(learn, recipe, cbs=[checkpoint, at_start], start_epoch=1)
    assert at_start.best == (0.75, 0)
    assert checkpoint.monitor == 'valid_accuracy'


# ---- the run folder, and going on from it


def test_overwrite_removes_the_checkpoints_of_the_run(run_copy, capsys):
    prepare_run_dir(run_copy, resume=False, overwrite=True)
    said = capsys.readouterr().out
    assert said == f'overwrite=True: removing last.pt, best.pt, previous.pt from {run_copy}\n'
    assert list(run_copy.iterdir()) == []


class RemovesWhenNamed(io.StringIO):
    """Standard output that removes `paths` as soon as a message names one of them: as another process under
    torchrun, cleaning the same folder, can."""

    def __init__(self, paths):
        super().__init__()
        self.paths = paths

    def write(self, text):
        for path in self.paths:
            if path.name in text:
                path.unlink(missing_ok=True)
        return super().write(text)


def test_files_another_process_removed_first_are_no_error(run_copy):
    stale = run_copy / '.last.pt.123.tmp'
    stale.write_bytes(b'')
    with redirect_stdout(RemovesWhenNamed([stale])):
        prepare_run_dir(run_copy, resume=True, overwrite=False)
    assert not stale.exists()
    with redirect_stdout(RemovesWhenNamed([run_copy / 'best.pt'])):
        prepare_run_dir(run_copy, resume=False, overwrite=True)
    assert list(run_copy.iterdir()) == []


def test_a_run_folder_with_checkpoints_is_not_replaced_by_default(finished, run_copy):
    learn, recipe, _ = finished
    with pytest.raises(CheckpointError) as refused:
        checkpoint_callbacks(learn, recipe, run_copy)
    assert str(refused.value) == (
        f'{run_copy} already holds the checkpoints of a run (last.pt, best.pt, previous.pt)\n'
        '  -> resume=True to go on with that run, another run_dir for a new one, or overwrite=True to '
        'replace it'
    )
    assert sorted(p.name for p in run_copy.iterdir()) == ['best.pt', 'last.pt', 'previous.pt']
    callbacks, start_epoch, notes = checkpoint_callbacks(learn, recipe, run_copy, overwrite=True)
    assert (len(callbacks), start_epoch, notes) == (1, 0, [])
    assert list(run_copy.iterdir()) == []


def test_resume_without_a_checkpoint_starts_at_epoch_0(finished, tmp_path, capsys):
    learn, recipe, _ = finished
    callbacks, start_epoch, notes = checkpoint_callbacks(learn, recipe, tmp_path, resume=True)
    assert (start_epoch, notes) == (0, [])
    assert capsys.readouterr().out == f'no checkpoint in {tmp_path} yet: starting at epoch 0\n'


def test_resume_of_a_finished_run_says_where_it_goes_on(finished, run_copy, capsys):
    learn, recipe, _ = finished
    callbacks, start_epoch, notes = checkpoint_callbacks(learn, recipe, run_copy, resume=True)
    assert (start_epoch, notes) == (2, [])
    assert (
        capsys.readouterr().out == f'resuming from {run_copy / "last.pt"}: epochs 0-1 done, going on to 1\n'
    )
    longer = Recipe(epochs=3, lr=0.01, keep_best=True)
    callbacks, start_epoch, notes = checkpoint_callbacks(learn, longer, run_copy, resume=True)
    assert (start_epoch, notes) == (2, [EXTENDED])
    assert capsys.readouterr().out == (
        f'resuming from {run_copy / "last.pt"}: epochs 0-1 done, going on to 2\n{EXTENDED}\n'
    )


def test_resume_loads_the_checkpoint_onto_the_loaders_device(small, run_copy):
    "The meta device stands in for a GPU: a resumed run's checkpoint goes where its batches go."
    recipe = Recipe(epochs=2, lr=0.01, keep_best=True)
    learn = learner(small, recipe)
    learn.dls = get_dls(small, batch_size=32, device='meta', normalize=([0.5], [0.5]))
    callbacks, start_epoch, _ = checkpoint_callbacks(learn, recipe, run_copy, resume=True)
    restore = callbacks[1]
    assert start_epoch == 2
    assert restore.checkpoint['model']['5.weight'].device == torch.device('meta')


def test_a_damaged_last_checkpoint_falls_back_to_previous(run_copy, capsys):
    last = run_copy / 'last.pt'
    last.write_bytes(last.read_bytes()[:100])
    with pytest.raises(CheckpointError) as damaged:
        load_checkpoint(last)
    checkpoint, path = resume_from(run_copy, device='meta')
    assert path == run_copy / 'previous.pt' and checkpoint['epoch'] == 0
    assert checkpoint['model']['5.weight'].device == torch.device('meta')
    assert capsys.readouterr().out == (
        f'{last} is damaged ({damaged.value.message[:120]}); kept as last.pt.damaged, going on from '
        'previous.pt\n'
    )
    assert (run_copy / 'last.pt.damaged').exists()


def test_resume_from_loads_last_onto_the_device_asked_for(run_copy):
    checkpoint, path = resume_from(run_copy, device='meta')
    assert path == run_copy / 'last.pt' and checkpoint['epoch'] == 1
    assert checkpoint['model']['5.weight'].device == torch.device('meta')


# ---- two processes (torchrun's setting), with gloo on this CPU


def two_processes(rank, folder, learn, recipe):
    "One of two processes: gathers both processes' states, then writes a checkpoint as torchrun's would."
    torch.distributed.init_process_group(
        'gloo',
        init_method=f'file://{folder / "store"}',
        rank=rank,
        world_size=2,
        timeout=timedelta(seconds=60),
    )
    try:
        assert every_rank({'rank': rank}) == [{'rank': 0}, {'rank': 1}]
        torch.manual_seed(rank)  # the processes' generators differ: the file must keep them in rank order
        # each process names its own file, to see which of them writes
        save_checkpoint(learn, folder / f'written_by_{rank}.pt', recipe, keep_previous=True)
        save_checkpoint(learn, folder / f'written_by_{rank}.pt', recipe, keep_previous=True)
        torch.save(torch.get_rng_state(), folder / f'torch_rng_{rank}.pt')
    finally:
        torch.distributed.destroy_process_group()


def test_under_two_processes_process_0_writes_every_process_states(finished, tmp_path):
    learn, recipe, _ = finished
    # one process: its own states, not a list
    assert every_rank({'rank': 0}) == {'rank': 0}
    (tmp_path / 'alone').mkdir()
    alone = load_checkpoint(save_checkpoint(learn, tmp_path / 'alone' / 'last.pt', recipe))
    assert alone['processes'] == 1 and torch.equal(alone['rng']['torch'], torch.get_rng_state())
    # two: forked, they start with this process's learner (and everything it has imported)
    torch.multiprocessing.start_processes(
        two_processes, args=(tmp_path, learn, recipe), nprocs=2, start_method='fork'
    )
    assert sorted(p.name for p in tmp_path.glob('*.pt')) == [
        'previous.pt',  # written by process 0 at its first save, moved at its second
        'torch_rng_0.pt',
        'torch_rng_1.pt',
        'written_by_0.pt',
    ]
    checkpoint = load_checkpoint(tmp_path / 'written_by_0.pt')
    assert checkpoint['processes'] == 2
    assert len(checkpoint['rng']) == 2
    assert not torch.equal(checkpoint['rng'][0]['torch'], checkpoint['rng'][1]['torch'])
    for rank, states in enumerate(checkpoint['rng']):
        assert torch.equal(states['torch'], torch.load(tmp_path / f'torch_rng_{rank}.pt'))
