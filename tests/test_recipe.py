"""The recipe's parts, one at a time: settings checks, optimisers, learning rates, phases, schedules,
validation, early stopping and divergence warnings (nbs/05_recipe's own checks do not run under mutation
testing)."""

import warnings

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback
from test_learner import Interrupt
from fastai.callback.training import GradientClip
from fastai.metrics import accuracy

from course_kit.core import SettingsError, TrainingDiverged, UnknownNameError, seed_everything
from course_kit.data import get_dls
from course_kit.learner import fit, make_learner
from course_kit.models import get_model
from course_kit.recipe import (
    ChannelsLast,
    EarlyStopping,
    Phase,
    Phases,
    Recipe,
    Schedule,
    StopOnNaN,
    ValidateEvery,
    group_lrs,
    monitored,
    opt_func,
    phase_at,
    recipe_callbacks,
    schedule_start,
    torch_scheduler,
    training_precision,
)
from course_kit.training import train
from course_kit.transfer import add_lora

pytestmark = pytest.mark.usefixtures('one_thread')  # (`one_thread` and `small` are in conftest.py)

# so small that 96 digits keep their accuracy and loss from one epoch to the next
TINY_LR = 1e-7


def small_cnn():
    return get_model('small_cnn', 10, in_channels=1, widths=(8, 16))


def still_cnn(zero_head=False):
    """A small CNN whose validation stays put at a tiny learning rate: batch norms that keep their running
    statistics; with `zero_head`, every loss is ln 10."""
    model = small_cnn()
    if zero_head:
        with torch.no_grad():
            model[5].weight.zero_()
            model[5].bias.zero_()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 0.0
    return model


def learner(small, recipe=None, model=None, metrics=accuracy, batch_size=32):
    "A CPU learner on the 96 training digits (3 batches of 32)."
    seed_everything(0)
    dls = get_dls(small, batch_size=batch_size, device='cpu')
    return make_learner(dls, model or small_cnn(), recipe, metrics=metrics, progress=False)


def epoch_lrs(learn) -> list:
    "The head's learning rate in the first batch of each trained epoch."
    return learn.recorder.lrs[:: len(learn.dls.train)]


class Rates(Callback):
    "Records the head's learning rate and momentum of each training batch, after the schedulers set them."

    order = 65  # after Schedule and fastai's ParamScheduler (60)

    def before_fit(self):
        self.lrs, self.momentums = [], []

    def before_batch(self):
        if self.training:
            self.lrs.append(self.opt.hypers[-1]['lr'])
            self.momentums.append(self.opt.hypers[-1]['mom'])


class ScaleTrainLoss(Callback):
    """Multiplies the recorded training loss of epoch i by `scales[i]` (the gradients are unchanged): a loss
    that explodes on cue."""

    order = 16  # after StopOnNaN (15), before the Recorder adds the loss up (after_batch)

    def __init__(self, scales):
        self.scales = scales

    def after_loss(self):
        if self.training:
            self.learn.loss = self.learn.loss * self.scales[self.epoch]


# --- settings -------------------------------------------------------------------------------------------


def test_a_nan_phase_lr_is_refused():
    with pytest.raises(SettingsError) as err:
        Recipe(phases=[Phase(2, lr=float('nan'))])
    assert str(err.value) == 'Phase lr=nan (float)\n  -> lr accepts a number >= 0'


def test_epochs_that_disagree_with_the_phases_are_refused_with_the_fix():
    with pytest.raises(SettingsError) as err:
        Recipe(epochs=4, phases=[Phase(2), Phase(1)])
    assert str(err.value) == (
        'epochs=4, but the phases add up to 3 epochs\n'
        "  -> leave epochs out (the phases' sum is used), or change a phase's epochs"
    )


def test_epochs_default_to_5_or_the_sum_of_the_phases():
    assert Recipe().epochs == 5
    assert Recipe(epochs=7).epochs == 7
    assert Recipe(phases=[Phase(2), Phase(1)]).epochs == 3
    assert Recipe(epochs=3, phases=[Phase(2), Phase(1)]).epochs == 3


@pytest.mark.parametrize('asked', ['bf16', 'fp16', 'fp32'])
def test_training_precision_on_a_cuda_device(asked):
    "On a CUDA device the asked precision is used, except bf16 on a GPU without it (this machine's answer)."
    no_bf16 = asked == 'bf16' and not torch.cuda.is_bf16_supported()
    expected = ('fp16', 'bf16 was asked for, but this GPU has no bf16') if no_bf16 else (asked, '')
    assert training_precision(asked, 'cuda') == expected


# --- optimisers and learning rates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    'optimizer, reference',
    [
        ('sgd', lambda q: torch.optim.SGD([q], lr=0.1, momentum=0.8, weight_decay=0.1)),
        ('adam', lambda q: torch.optim.Adam([q], lr=0.1, betas=(0.8, 0.99), eps=1e-5, weight_decay=0.1)),
        ('adamw', lambda q: torch.optim.AdamW([q], lr=0.1, betas=(0.8, 0.99), eps=1e-5, weight_decay=0.1)),
    ],
)
def test_opt_func_steps_like_torchs_optimiser(optimizer, reference):
    """sgd: L2 penalty and momentum; adam: L2 penalty; adamw: decoupled decay (fastai's Adam has beta2=0.99,
    eps=1e-5)."""
    recipe = Recipe(optimizer=optimizer, lr=0.1, momentum=0.8, weight_decay=0.1)
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(5, dtype=torch.float64, generator=generator)
    grads = [torch.randn(5, dtype=torch.float64, generator=generator) for _ in range(3)]
    p, q = start.clone().requires_grad_(), start.clone().requires_grad_()
    ours, theirs = opt_func(recipe)([p], lr=recipe.lr), reference(q)
    for grad in grads:
        p.grad, q.grad = grad.clone(), grad.clone()
        ours.step()
        theirs.step()
    assert torch.allclose(p, q, rtol=1e-9, atol=1e-12)
    assert not torch.allclose(p, start)


def test_group_lrs_rise_evenly_on_a_log_scale():
    assert group_lrs(0.01, 3) == [0.01, 0.01, 0.01]  # lr_mult defaults to 1: one rate
    assert group_lrs(0.01, 1, lr_mult=10) == [0.01]  # one group: the head's rate
    assert group_lrs(0.01, 2, lr_mult=10) == pytest.approx(np.geomspace(0.001, 0.01, 2))
    assert group_lrs(0.01, 3, lr_mult=2) == pytest.approx(np.geomspace(0.005, 0.01, 3))


# --- monitored metrics ----------------------------------------------------------------------------------


def test_monitored_reads_the_epochs_values(small):
    recipe = Recipe(epochs=1, lr=0.01)
    learn = learner(small, recipe)
    fit(learn, recipe)
    seen = [monitored(learn, name) for name in ('train_loss', 'valid_loss', 'valid_accuracy')]
    assert seen[0] == learn.recorder.values[-1][0]
    # validating again (the model is in eval mode: the same numbers)
    assert seen[1:] == pytest.approx(learn.validate())


@pytest.mark.parametrize(
    'name, hint', [('valid_acc', "did you mean 'valid_accuracy'? "), ('time', ''), ('epoch', '')]
)
def test_monitoring_an_unknown_metric_names_the_known_ones(small, name, hint):
    learn = learner(small)
    fit(learn, Recipe(epochs=1, lr=0.01))
    with pytest.raises(UnknownNameError) as err:
        monitored(learn, name)
    assert str(err.value) == (
        f'unknown metric to monitor {name!r}\n'
        f'  -> {hint}accepted: train_accuracy, train_loss, valid_accuracy, valid_loss'
    )


# --- phases ---------------------------------------------------------------------------------------------


def test_phase_at_without_phases_is_one_phase_of_the_recipe():
    recipe = Recipe(epochs=3, lr=0.02)
    assert phase_at(recipe, 1) == (Phase(3, trainable=None, lr=0.02), 0)


def test_phase_at_finds_each_epochs_phase_and_its_start():
    recipe = Recipe(phases=[Phase(2, 'head'), Phase(3, 'all'), Phase(1, 'body')])
    first, second, third = recipe.phases
    expected = [(first, 0)] * 2 + [(second, 2)] * 3 + [(third, 5)]
    assert [phase_at(recipe, epoch) for epoch in range(6)] == expected
    # a longer fit than the recipe stays in the last phase
    assert phase_at(recipe, 6) == (third, 5)
    assert phase_at(recipe, 9) == (third, 5)


@pytest.mark.parametrize('restart, start', [(True, 2), (False, 0)])
def test_schedule_start_is_the_phase_start_only_when_phases_restart(restart, start):
    recipe = Recipe(phases=[Phase(2), Phase(3)], restart_each_phase=restart)
    assert schedule_start(recipe, 3) == (recipe.phases[1], start)
    assert schedule_start(recipe, 1) == (recipe.phases[0], 0)


def test_phases_callback_freezes_the_body_in_a_head_phase(small):
    "Phases built with its defaults: epoch 0, a 'head' phase, trains the head only."
    recipe = Recipe(lr=0.01, phases=[Phase(1, 'head'), Phase(1, 'all')])
    learn = learner(small, recipe)
    before = {name: p.detach().clone() for name, p in learn.model.named_parameters()}
    learn.fit(1, 0.01, cbs=[Phases(recipe)])
    changed = {name for name, p in learn.model.named_parameters() if not torch.equal(p, before[name])}
    assert changed == {'5.weight', '5.bias'}


def test_a_wrong_phase_name_fails_before_any_training(small):
    recipe = Recipe(lr=0.01, phases=[Phase(1, 'all'), Phase(1, ['nope'])])
    learn = learner(small, recipe)
    before = [p.detach().clone() for p in learn.model.parameters()]
    with pytest.raises(UnknownNameError, match="unknown parameter group 'nope'"):
        fit(learn, recipe)
    assert all(torch.equal(p, q) for p, q in zip(learn.model.parameters(), before))


@pytest.mark.parametrize(
    'lora, trainables, printed',
    [
        (True, ['head', 'lora'], [0]),
        (True, ['all', 'head'], [1]),
        (True, ['lora'], []),
        (False, ['head', 'all'], []),
    ],
)
def test_a_head_phase_of_a_lora_model_says_the_adapters_wait(small, capsys, lora, trainables, printed):
    model = add_lora(small_cnn()) if lora else small_cnn()
    recipe = Recipe(lr=0.01, phases=[Phase(1, t) for t in trainables])
    learn = learner(small, recipe, model=model)
    fit(learn, recipe)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith('phase')]
    assert lines == [
        f"phase {i} trains the head only: the LoRA adapters wait (name 'lora' too to train them)"
        for i in printed
    ]


@pytest.mark.parametrize(
    'recipe, steps',
    [
        (Recipe(epochs=2, lr=0.01), 2),  # one phase: never cleared
        (Recipe(lr=0.01, phases=[Phase(1), Phase(1)]), 1),  # cleared at the second phase
        (Recipe(lr=0.01, phases=[Phase(1), Phase(1)], restart_each_phase=False), 2),
    ],
)
def test_adam_state_restarts_only_when_a_new_phase_starts(small, recipe, steps):
    "Adam counts its steps: the count at the end is the batches since the state was last cleared."
    learn = learner(small, recipe)
    fit(learn, recipe)
    assert learn.opt.state[learn.model[5].weight]['step'] == steps * len(learn.dls.train)


def test_a_second_fit_goes_on_with_the_optimiser_state(small):
    recipe = Recipe(epochs=1, lr=0.01)
    learn = learner(small, recipe)
    fit(learn, recipe)
    fit(learn, recipe)
    assert learn.opt.state[learn.model[5].weight]['step'] == 2 * len(learn.dls.train)


# --- schedules ------------------------------------------------------------------------------------------


def test_plateau_scheduler_cuts_by_factor_after_patience_in_the_monitors_direction():
    "valid_loss must fall and valid_accuracy rise; two values in a row that do not cut the rates by half."
    for monitor, values in [('valid_loss', [1.0, 2.0, 2.0]), ('valid_accuracy', [0.5, 0.4, 0.4])]:
        recipe = Recipe(schedule='plateau', monitor=monitor, plateau_factor=0.5, plateau_patience=1)
        scheduler = torch_scheduler(recipe, [0.1, 0.2])
        seen = []
        for value in values:
            scheduler.step(value)
            seen.append([group['lr'] for group in scheduler.optimizer.param_groups])
        assert seen == [[0.1, 0.2], [0.1, 0.2], [0.05, 0.1]], monitor


def two_phases_of_steps() -> Recipe:
    "SGD in two phases of 2 epochs (rates 0.1 and 0.02), each rate halved after every epoch."
    phases = [Phase(2, lr=0.1), Phase(2, lr=0.02)]
    return Recipe(optimizer='sgd', schedule='step', step_size=1, gamma=0.5, phases=phases)


def test_step_schedule_starts_again_at_each_phase(small):
    recipe = two_phases_of_steps()
    learn = learner(small, recipe)
    fit(learn, recipe)
    assert epoch_lrs(learn) == pytest.approx([0.1, 0.05, 0.02, 0.01])


def test_plateau_schedule_cuts_the_rate_when_the_monitor_stalls(small):
    "At a tiny rate the accuracy stays put: with patience 0 the second epoch's value cuts the rate."
    recipe = Recipe(
        epochs=3,
        lr=TINY_LR,
        optimizer='sgd',
        schedule='plateau',
        plateau_factor=0.5,
        plateau_patience=0,
    )
    learn = learner(small, recipe, model=still_cnn())
    fit(learn, recipe)
    assert epoch_lrs(learn) == pytest.approx([TINY_LR, TINY_LR, TINY_LR / 2])


@pytest.mark.parametrize('how', ['Schedule alone', 'recipe_callbacks', 'fit'])
@pytest.mark.parametrize(
    'recipe, cycles',
    [
        (Recipe(epochs=2, lr=0.01), [2]),
        (Recipe(lr=0.01, phases=[Phase(1), Phase(1)]), [1, 1]),
        (Recipe(lr=0.01, lr_mult=10, phases=[Phase(1), Phase(1)], restart_each_phase=False), [2]),
    ],
)
def test_one_cycle_matches_fastais_fit_one_cycle(small, how, recipe, cycles):
    """Each phase (or the whole run) is one of fastai's cycles: the same rates and momentums batch by batch.
    The callbacks are built with their defaults (a run from epoch 0)."""
    learn = learner(small, recipe, batch_size=8)
    rates = Rates()
    if how == 'Schedule alone':
        learn.fit(recipe.epochs, recipe.lr, cbs=[Schedule(recipe), rates])
    elif how == 'recipe_callbacks':
        learn.fit(recipe.epochs, recipe.lr, cbs=recipe_callbacks(recipe) + [rates])
    else:
        fit(learn, recipe, cbs=[rates])
    expected_lrs, expected_moms = [], []
    for epochs in cycles:
        reference = learner(small, recipe, batch_size=8)
        reference_rates = Rates()
        reference.fit_one_cycle(epochs, recipe.lr, cbs=[reference_rates])
        expected_lrs += reference_rates.lrs
        expected_moms += reference_rates.momentums
    assert len(rates.lrs) == recipe.epochs * 12
    assert rates.lrs == pytest.approx(expected_lrs, rel=1e-12, abs=0)
    assert rates.momentums == pytest.approx(expected_moms, rel=1e-12, abs=0)


def test_resume_at_a_phase_start_starts_the_new_phases_schedule(small, tmp_path):
    "A run stopped at the end of phase 1 and resumed trains phase 2 at its own rates, like an unbroken run."
    recipe = two_phases_of_steps()

    def run(resume, cbs=None):
        seed_everything(0)
        dls = get_dls(small, batch_size=32, device='cpu')
        return train(dls, small_cnn(), recipe, run_dir=tmp_path, resume=resume, cbs=cbs, progress=False).learn

    run(False, cbs=Interrupt(1))
    resumed = run(True)
    assert epoch_lrs(resumed) == pytest.approx([0.02, 0.01])


def test_fit_from_a_later_epoch_trains_only_from_there(small):
    """fit(..., start_epoch=2) without a checkpoint: epochs 0 and 1 are skipped by every callback (their rows
    stay empty for a checkpoint's replay); epoch 2 trains and validates."""
    recipe = Recipe(epochs=3, lr=0.01, schedule='plateau', validate_every=2, early_stopping=2)
    learn = learner(small, recipe)
    fit(learn, recipe, start_epoch=2)
    values = learn.recorder.values
    assert [list(row) for row in values[:2]] == [[], []]
    assert len(values[2]) == 4 and None not in values[2]
    last = list(values[2])
    assert last[2:] == pytest.approx(learn.validate())


# --- validation every k epochs --------------------------------------------------------------------------


def validated(learn) -> list:
    return [row[2] is not None for row in learn.recorder.values]


def test_validate_every_defaults_to_every_epoch(small):
    learn = learner(small)
    learn.fit(3, 0.01, cbs=[ValidateEvery()])
    assert validated(learn) == [True, True, True]
    assert all(len(row) == 4 for row in learn.recorder.values)


@pytest.mark.parametrize(
    'every, pattern',
    [
        (2, [False, True, False, True]),
        (3, [False, False, True, True]),
        (3, [False, False, True, False, True]),
    ],
)
def test_validate_every_k_epochs_and_after_the_last(small, every, pattern):
    learn = learner(small)
    learn.fit(len(pattern), 0.01, cbs=[ValidateEvery(every)])
    assert validated(learn) == pattern
    # a skipped validation leaves None for both of its values; no extra values
    assert [list(row[2:]) for row in learn.recorder.values if row[2] is None] == [
        [None, None]
    ] * pattern.count(False)
    assert all(len(row) == 4 for row in learn.recorder.values)
    last = list(learn.recorder.values[-1])
    assert last[2:] == pytest.approx(learn.validate())


def test_validate_every_without_metrics_leaves_none_for_the_valid_loss(small):
    recipe = Recipe(epochs=2, lr=0.01, validate_every=2)
    learn = learner(small, recipe, metrics=None)
    fit(learn, recipe)
    assert [len(row) for row in learn.recorder.values] == [2, 2]
    assert learn.recorder.values[0][1] is None
    last = list(learn.recorder.values[1])
    assert last[1] == pytest.approx(learn.validate()[0])


# --- early stopping -------------------------------------------------------------------------------------


def early_stops(capsys) -> list:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith('early stopping')]


def test_early_stopping_defaults_stop_after_3_epochs_without_improvement(small, capsys):
    "At a tiny rate the accuracy stays put: epoch 0 sets the best, epochs 1 to 3 do not improve on it."
    learn = learner(small, model=still_cnn())
    stopper = EarlyStopping()
    learn.fit(10, TINY_LR, cbs=[stopper])
    accuracies = [row[3] for row in learn.recorder.values]
    assert len(accuracies) == 4 and len(set(accuracies)) == 1
    assert early_stops(capsys) == [
        f'early stopping after epoch 3: valid_accuracy has not improved on {accuracies[0]:.4f} for 3 '
        'validated epochs'
    ]
    assert stopper.state_dict() == dict(best=accuracies[0], wait=3, stop_requested=True)


def test_early_stopping_state_of_a_run_that_goes_on(small, capsys):
    learn = learner(small, model=still_cnn())
    stopper = EarlyStopping(patience=5)
    learn.fit(2, TINY_LR, cbs=[stopper])
    accuracies = [row[3] for row in learn.recorder.values]
    state = stopper.state_dict()
    assert state == dict(best=accuracies[0], wait=1, stop_requested=False)
    assert state['stop_requested'] is False
    assert early_stops(capsys) == []


def test_early_stopping_counts_validated_epochs_only(small, capsys):
    "Validated epochs 1, 3, 4: epoch 3 does not improve on epoch 1, so epoch 4 is not trained."
    recipe = Recipe(epochs=5, lr=TINY_LR, optimizer='sgd', validate_every=2, early_stopping=1)
    learn = learner(small, recipe, model=still_cnn())
    fit(learn, recipe)
    assert validated(learn) == [False, True, False, True]
    best = learn.recorder.values[1][3]
    assert early_stops(capsys) == [
        f'early stopping after epoch 3: valid_accuracy has not improved on {best:.4f} for 1 validated epochs'
    ]


def test_early_stopping_goes_on_from_a_loaded_state(small, capsys):
    "A best accuracy of 3 cannot be beaten (a valid_loss of 2.3 would beat it): one more epoch, then stop."
    learn = learner(small, model=still_cnn())
    stopper = EarlyStopping('valid_accuracy', patience=2)
    stopper.load_state_dict(dict(best=3.0, wait=1, stop_requested=False))
    learn.fit(5, TINY_LR, cbs=[stopper])
    assert len(learn.recorder.values) == 1
    assert early_stops(capsys) == [
        'early stopping after epoch 0: valid_accuracy has not improved on 3.0000 for 2 validated epochs'
    ]


def test_a_first_value_that_is_not_a_number_counts_as_no_improvement(small, capsys):
    def unknown(inp, targ):
        return torch.tensor(float('nan'))

    learn = learner(small, metrics=[accuracy, unknown], model=still_cnn())
    stopper = EarlyStopping('valid_unknown', patience=2)
    learn.fit(5, TINY_LR, cbs=[stopper])
    assert len(learn.recorder.values) == 2
    assert early_stops(capsys) == [
        'early stopping after epoch 1: valid_unknown has not improved on -inf for 2 validated epochs'
    ]


# --- divergence -----------------------------------------------------------------------------------------

FIX = (
    'lower the learning rate, or set grad_clip (e.g. 1.0) in the recipe; the last checkpoint is the last '
    'good epoch'
)


def test_a_nan_training_loss_stops_naming_the_batch(small):
    model = small_cnn()
    with torch.no_grad():
        model[5].bias[0] = float('nan')
    recipe = Recipe(epochs=2, lr=0.01)
    learn = learner(small, recipe, model=model)
    with pytest.raises(TrainingDiverged) as err:
        fit(learn, recipe)
    assert err.value.message == 'the loss became nan in epoch 0, training batch 0'
    assert err.value.fix == FIX


def test_a_nan_validation_loss_stops_naming_the_batch(small):
    "Batch statistics of NaN: training (batch statistics) is fine, validation (running statistics) is not."
    model = small_cnn()
    model[1][1].running_var.fill_(float('nan'))
    recipe = Recipe(epochs=2, lr=0.01)
    learn = learner(small, recipe, model=model)
    with pytest.raises(TrainingDiverged) as err:
        fit(learn, recipe)
    assert err.value.message == 'the loss became nan in epoch 0, validation batch 0'
    assert err.value.fix == FIX


def loss_warnings(small, scales, recipe=None, metrics=accuracy):
    """The divergence warnings of a run whose recorded training loss is multiplied by `scales`, and its
    per-epoch training losses."""
    recipe = recipe or Recipe(epochs=len(scales), lr=TINY_LR, optimizer='sgd', schedule='constant')
    learn = learner(small, recipe, model=still_cnn(zero_head=True), metrics=metrics)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        fit(learn, recipe, cbs=[ScaleTrainLoss(scales)])
    losses = [row[0] for row in learn.recorder.values]
    return [str(w.message) for w in caught if 'training loss grew' in str(w.message)], losses


def warned_about(found, low, high) -> bool:
    "Is one of the warnings `found` about a loss that grew from `low` to `high` (in whichever epoch)?"
    tail = ': the run is diverging (accuracy will be near chance); lower the learning rate or set grad_clip'
    start = f'the training loss grew from {low:.4g} to {high:.4g} by epoch '
    return any(message.startswith(start) and message.endswith(tail) for message in found)


# The recorded training loss is fastai's smoothed loss (a running average over the batches), so an epoch's
# scale shows only in part: with 3 batches of ln(10) an epoch scaled by 194 records about 100.4 times the
# first epoch's loss, one scaled by 96 about 50 times.


def test_a_loss_that_grew_more_than_100_times_warns(small):
    found, losses = loss_warnings(small, [1, 194, 1])
    assert 100 < losses[1] / losses[0] < 101
    assert warned_about(found, losses[0], losses[1])


def test_a_loss_that_grew_50_times_does_not_warn(small):
    found, losses = loss_warnings(small, [1, 96, 1])
    assert 100 / losses[0] < losses[1] / losses[0] < 100
    assert found == []


def test_the_warning_compares_the_latest_loss_with_the_lowest(small):
    found, losses = loss_warnings(small, [1, 1, 400, 1])
    assert warned_about(found, min(losses[:2]), losses[2])


def test_the_warning_counts_epochs_without_validation(small):
    "Without metrics a row is (train_loss, valid_loss); an epoch without validation still has its loss."
    recipe = Recipe(epochs=4, lr=TINY_LR, optimizer='sgd', schedule='constant', validate_every=2)
    found, losses = loss_warnings(small, [1, 400, 1, 1], recipe=recipe, metrics=None)
    assert warned_about(found, losses[0], losses[1])


# --- channels_last and the callback list ----------------------------------------------------------------


def test_channels_last_converts_only_4d_inputs(small):
    learn = learner(small)
    images, extra = torch.randn(2, 3, 8, 8), torch.randn(2, 5)
    callback = ChannelsLast()
    callback.learn = learn
    learn.xb = (images, extra)
    callback.before_batch()
    converted, kept = learn.xb
    assert converted.is_contiguous(memory_format=torch.channels_last) and torch.equal(converted, images)
    assert kept is extra


def test_recipe_callbacks_are_the_ones_asked_for():
    assert [type(cb) for cb in recipe_callbacks(Recipe())] == [Phases, Schedule, StopOnNaN]
    recipe = Recipe(validate_every=2, early_stopping=4, grad_clip=1.5)
    callbacks = recipe_callbacks(recipe, start_epoch=3)
    assert [type(cb) for cb in callbacks] == [
        Phases,
        Schedule,
        StopOnNaN,
        ValidateEvery,
        EarlyStopping,
        GradientClip,
    ]
    assert [cb.start_epoch for cb in callbacks[:2] + callbacks[3:5]] == [3, 3, 3, 3]
    assert (callbacks[3].every, callbacks[4].patience, callbacks[5].max_norm) == (2, 4, 1.5)
    assert [cb.start_epoch for cb in recipe_callbacks(recipe)[:2]] == [0, 0]


def test_the_warning_names_the_epoch_that_exploded_even_the_last(small):
    "The warning reads this epoch's loss (the Recorder adds its row after the check): epoch 1, the last."
    found, losses = loss_warnings(small, [1, 194])
    tail = ': the run is diverging (accuracy will be near chance); lower the learning rate or set grad_clip'
    assert found == [f'the training loss grew from {losses[0]:.4g} to {losses[1]:.4g} by epoch 1' + tail]
