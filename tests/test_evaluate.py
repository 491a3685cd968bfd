"Evaluation: the kit's metrics equal scikit-learn's, report A's vote rule, and the submission checker."

import datetime
import multiprocessing

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback
from sklearn import metrics as skm

from course_kit.core import BadDataError, CourseKitError
from course_kit.evaluate import (
    Accuracy,
    Predictions,
    as_predictions,
    get_predictions,
    majority_vote,
    mean_probabilities,
    per_class_accuracy,
    roc_curves,
    top_k_accuracy,
)
from course_kit.data import get_dls
from course_kit.learner import Rehearsal, make_learner
from course_kit.models import get_model
from course_kit.recipe import Recipe
from course_kit.submissions import check_submission, write_kaggle_csv, write_label_list


@pytest.fixture
def fixed():
    "200 images, 5 classes, probabilities loosely tied to the targets; the same every run."
    rng = np.random.default_rng(1)
    targets = rng.integers(0, 5, 200)
    probs = rng.dirichlet(np.ones(5), 200) + 0.5 * np.eye(5)[targets]
    return probs / probs.sum(1, keepdims=True), targets


def test_metrics_equal_sklearn(fixed):
    probs, targets = fixed
    preds = probs.argmax(1)
    result = (
        Accuracy(5)
        .update(torch.tensor(probs[:120]), torch.tensor(targets[:120]))
        .update(preds[120:], targets[120:])
        .compute()
    )
    assert result['overall'] == skm.accuracy_score(targets, preds)
    assert np.allclose(list(result['per_class'].values()), skm.recall_score(targets, preds, average=None))
    assert np.allclose(per_class_accuracy(preds, targets, 5), skm.recall_score(targets, preds, average=None))
    for k in (1, 2, 4):
        assert top_k_accuracy(probs, targets, k) == skm.top_k_accuracy_score(targets, probs, k=k)
    roc = roc_curves(probs, targets)
    assert np.isclose(roc.macro_auc, skm.roc_auc_score(targets, probs, multi_class='ovr', average='macro'))
    fpr, tpr, _ = skm.roc_curve(targets == 3, probs[:, 3])
    assert np.array_equal(roc.fpr['3'], fpr) and np.array_equal(roc.tpr['3'], tpr)
    p = Predictions(torch.tensor(probs), torch.tensor(preds), torch.tensor(targets))
    assert np.array_equal(p.confusion(), skm.confusion_matrix(targets, preds))
    assert np.isclose(p.loss(), skm.log_loss(targets, probs))


@pytest.mark.parametrize(
    'preds, targets, message',
    [
        (torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), '4 scores per image'),
        (torch.zeros(3, 5), torch.zeros(2, dtype=torch.long), '3 predictions but 2 targets'),
        (torch.tensor([0, 5]), torch.tensor([0, 1]), 'outside 0..4'),
        (torch.full((1, 5), float('nan')), torch.tensor([0]), 'NaN'),
    ],
)
def test_accuracy_refuses_bad_batches(preds, targets, message):
    with pytest.raises(BadDataError, match=message):
        Accuracy(5).update(preds, targets)


def test_vote_follows_report_a():
    "Report A's loop: a==b or b==c -> b; a==c -> a; else b (b = ResNet50, the tie-break model)."
    grid = torch.cartesian_prod(torch.arange(4), torch.arange(4), torch.arange(4))
    expected = [b if (a == b or b == c) else (a if a == c else b) for a, b, c in grid.tolist()]
    named = {'mobilenet64': grid[:, 0], 'resnet50': grid[:, 1], 'mobilenet224': grid[:, 2]}
    assert majority_vote(named, tie_break='resnet50').tolist() == expected


def test_vote_two_two_ties():
    four = [torch.tensor([3, 3]), torch.tensor([3, 3]), torch.tensor([5, 5]), torch.tensor([5, 7])]
    # tie 3/5: the tie-break model says 5; 3 wins 2-1-1
    assert majority_vote(four, tie_break=2).tolist() == [5, 3]
    assert majority_vote(four, tie_break=3).tolist() == [5, 3]  # tie 3/5 and it says 5; then 3 wins
    five = four + [torch.tensor([7, 7])]
    # tie 3/5, it says 7 -> lowest tied (3); tie 3/7, it says 7 -> 7
    assert majority_vote(five, tie_break=4).tolist() == [3, 7]


def test_mean_probabilities():
    a, b = torch.tensor([[0.6, 0.4]]), torch.tensor([[0.2, 0.8]])
    assert torch.allclose(mean_probabilities([a, b]).float(), torch.tensor([[0.4, 0.6]]))


def test_written_submissions_pass_the_checker(tmp_path):
    path = write_kaggle_csv(tmp_path / 'sub.csv', [4, 0, 9])
    assert path.read_text() == '"Id","Prediction1"\n0,4\n1,0\n2,9\n'
    assert len(check_submission(path, range(3), n_classes=10)) == 3
    names = ['b.png', 'a.png']
    path = write_label_list(tmp_path / 'list.csv', names, [1, 0], classes=['cat', 'dog'])
    check_submission(path, names, header=('file', 'label'), classes=['cat', 'dog'])


@pytest.mark.parametrize(
    'text, message',
    [
        ('Id,Label\n0,1\n1,1\n2,1\n', 'the header is'),
        ('"Id","Prediction1"\n0,1\n1,1\n', '2 rows, expected 3'),
        ('"Id","Prediction1"\n0,1\n1,1\n1,1\n', "missing: '2'"),
        ('"Id","Prediction1"\n0,1\n0,1\n1,1\n2,1\n', 'more than once'),
        ('"Id","Prediction1"\n0,1\n1,1\n3,1\n', 'not in the test set'),
        ('"Id","Prediction1"\n0,1\n1,dog\n2,1\n', 'not whole numbers'),
        ('"Id","Prediction1"\n0,1\n1,1,1\n2,1\n', 'do not have 2 fields'),
        ('"Id","Prediction1"\n0,1\n1,1\n2,12\n', 'outside 0..9'),
        ('', 'is empty'),
    ],
)
def test_checker_rejects_malformed_files(tmp_path, text, message):
    path = tmp_path / 'sub.csv'
    path.write_text(text)
    with pytest.raises(BadDataError, match=message):
        check_submission(path, range(3), n_classes=10)


def tiny_learner(small):
    "An untrained tiny CNN on 32 validation and 32 test digits (batches of 8): its learner."
    torch.manual_seed(0)
    model = get_model('small_cnn', 10, in_channels=1, widths=(8, 16))
    return make_learner(get_dls(small, batch_size=8, device='cpu'), model, Recipe(epochs=1), progress=False)


@pytest.fixture(scope='module')
def learn(small):
    "An untrained tiny CNN on 32 validation and 32 test digits (batches of 8): its learner."
    return tiny_learner(small)


def by_hand(learn, data) -> torch.Tensor:
    "The model's softmax on the normalised images, one forward pass: what get_predictions must give."
    dl = learn.dls.valid
    batches = [xb for xb, _ in dl.new(data, shuffle=False)] if data is not None else [xb for xb, _ in dl]
    learn.model.eval()
    with torch.no_grad():
        return torch.cat([learn.model(xb).softmax(dim=1) for xb in batches])


def test_predictions_of_the_valid_set_equal_a_forward_pass(learn, small):
    learn.recorder.values = [['kept']]  # get_preds empties the history: get_predictions puts it back
    found = get_predictions(learn)
    assert torch.allclose(found.probs, by_hand(learn, None), atol=1e-6)
    assert torch.equal(found.preds, found.probs.argmax(dim=1))
    assert torch.equal(found.targets, small.valid.labels)
    assert found.classes == small.valid.classes and len(found.probs) == 32
    assert learn.recorder.values == [['kept']]


def test_predictions_of_an_unlabelled_set(learn, small):
    hidden = small.test.subset(range(32))
    hidden.labels = torch.full_like(hidden.labels, -1)
    hidden.names = [f'img_{i}.png' for i in range(32)]
    found = get_predictions(learn, learn.dls.valid.new(hidden, shuffle=False))
    assert torch.allclose(found.probs, by_hand(learn, hidden), atol=1e-6)
    assert found.targets.tolist() == [-1] * 32 and found.names == hidden.names


def test_a_rehearsal_predicts_its_first_images(learn, small):
    learn.rehearsal = Rehearsal(batches=1, images=12)
    try:
        data = small.test.subset(range(32))
        data.names = [f'img_{i}.png' for i in range(32)]
        found = get_predictions(learn, learn.dls.valid.new(data, shuffle=False))
    finally:
        del learn.rehearsal
    assert len(found.probs) == len(found.targets) == 12 and found.names == data.names[:12]
    assert torch.equal(found.targets, data.labels[:12])


def test_metric_defaults_and_absent_classes():
    probs = torch.tensor([[0.30, 0.25, 0.20, 0.12, 0.08, 0.05]] * 2)
    targets = torch.tensor([4, 5])  # 5th and 6th most likely: top-5 finds one, top-6 both
    assert top_k_accuracy(probs, targets) == 0.5
    # class 3 has no image: NaN in its place, not dropped (the array has one value per class)
    found = per_class_accuracy(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2]), n_classes=4)
    assert found[:3].tolist() == [1.0, 0.5, 1.0] and np.isnan(found[3])


def test_a_vote_of_different_lengths_is_refused():
    with pytest.raises(BadDataError, match=r'different numbers of images: \[2, 3\]'):
        majority_vote([torch.tensor([1, 2]), torch.tensor([1, 2, 3])])


def test_a_vote_ties_to_the_first_model_by_default():
    assert majority_vote([torch.tensor([1, 0]), torch.tensor([2, 0])]).tolist() == [1, 0]


SCORES = torch.rand(4, 5)
LONG = torch.zeros(4, dtype=torch.long)


@pytest.mark.parametrize(
    'call, said',
    [
        (
            lambda: Accuracy(5).update(SCORES, torch.zeros(4, 2, dtype=torch.long)),
            'targets must have shape (N,), got (4, 2)\n  -> pass one true label per image',
        ),
        (
            lambda: Accuracy(5).update(SCORES, torch.zeros(4)),
            'targets must be integer labels, got torch.float32\n  -> pass class indices, e.g. y.long()',
        ),
        (
            lambda: Accuracy(5).update(torch.rand(4, 3), LONG),
            "preds has 3 scores per image but there are 5 classes\n  -> check the model's output size",
        ),
        (
            lambda: Accuracy(5).update(torch.full((4, 5), float('nan')), LONG),
            'preds contains NaN\n  -> the model diverged or its input has NaN; check the loss and the data',
        ),
        (
            lambda: Accuracy(5).update(torch.rand(4), LONG),
            '1-D preds must be integer labels, got torch.float32\n'
            '  -> pass labels (long) or scores of shape (N, n_classes)',
        ),
        (
            lambda: Accuracy(5).update(torch.rand(4, 5, 2), LONG),
            'preds must have shape (N, 5) or (N,), got (4, 5, 2)\n  -> flatten extra dimensions',
        ),
        (
            lambda: Accuracy(5).update(SCORES, torch.zeros(3, dtype=torch.long)),
            '4 predictions but 3 targets\n  -> pass one prediction per target',
        ),
        (
            lambda: Accuracy(5).update(SCORES, torch.tensor([0, 1, 7, 2])),  # 0 is a label, 7 is not
            'targets has the label 7, outside 0..4\n  -> check n_classes and the labels',
        ),
        (
            lambda: Accuracy(5).update(torch.tensor([0, 9, 1, 2]), torch.tensor([0, 1, 1, 2])),
            'preds has the label 9, outside 0..4\n  -> check n_classes and the labels',
        ),
        (
            lambda: roc_curves(np.random.rand(4, 1), np.zeros(4, dtype=int)),
            'no class has both positive and negative images\n'
            '  -> evaluate on a set with at least two classes',
        ),
        (
            lambda: majority_vote([]),
            'an ensemble needs at least one model\n  -> pass a list or dict of predictions',
        ),
        (
            lambda: majority_vote({'a': torch.tensor([1]), 'b': torch.tensor([1])}, tie_break='c'),
            "unknown tie-break model 'c'\n  -> accepted: a, b",
        ),
    ],
)
def test_bad_input_is_refused_in_these_words(call, said):
    "Each refusal, word for word: what is wrong, with the value, and the fix."
    with pytest.raises(CourseKitError) as refused:
        call()
    assert str(refused.value) == said


# Tests written after reading the mutants that survived mutation testing (benchmarks/survivors/evaluate.md).


def test_scores_still_attached_to_the_graph_are_accepted(fixed):
    "Model outputs that require grad: the kit detaches them, and the numbers equal scikit-learn's."
    probs, targets = fixed
    live = torch.tensor(probs, requires_grad=True)
    assert top_k_accuracy(live, targets, 2) == skm.top_k_accuracy_score(targets, probs, k=2)
    expected_auc = skm.roc_auc_score(targets, probs, multi_class='ovr', average='macro')
    assert np.isclose(roc_curves(live, torch.tensor(targets)).macro_auc, expected_auc)
    result = Accuracy(5).update(live, torch.tensor(targets)).compute()
    assert result['overall'] == skm.accuracy_score(targets, probs.argmax(1))


def test_a_list_of_per_image_probabilities_is_accepted(fixed):
    "A list of one tensor per image (as `learn.predict` gives) counts like the (N, n_classes) tensor."
    probs, targets = fixed
    rows = [torch.tensor(row) for row in probs]
    result = Accuracy(5).update(rows, targets).compute()
    assert result['overall'] == skm.accuracy_score(targets, probs.argmax(1))
    expected_auc = skm.roc_auc_score(targets, probs, multi_class='ovr', average='macro')
    assert np.isclose(roc_curves(rows, targets).macro_auc, expected_auc)


def test_as_predictions_of_probabilities():
    "Probabilities and targets become a Predictions: argmax per image, the targets and the class names."
    rows = [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]]
    found = as_predictions(rows, [1, 1, 2], ['cat', 'dog', 'fish'])
    assert torch.equal(found.probs, torch.tensor(rows))
    assert found.preds.tolist() == [1, 0, 2]
    assert found.targets.tolist() == [1, 1, 2]
    assert found.classes == ['cat', 'dog', 'fish']
    assert found.accuracy() == 2 / 3


def test_confusion_and_loss_keep_a_class_no_image_has():
    "Class 3 is neither a target nor a prediction: the matrix is still 4 x 4, and the loss still counts it."
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    logits[:, 3] = -9  # nobody predicts class 3
    probs = logits.softmax(dim=1)  # float32: rows sum to 1 only up to rounding
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    found = Predictions(probs, probs.argmax(dim=1), targets)
    expected = np.zeros((4, 4), dtype=int)
    for t, p in zip(targets.tolist(), probs.argmax(dim=1).tolist()):
        expected[t, p] += 1
    assert np.array_equal(found.confusion(), expected)
    # cross-entropy by hand, on rows normalised in float64
    rows = probs.double().numpy()
    rows = rows / rows.sum(axis=1, keepdims=True)
    by_hand = -np.mean(np.log(rows[np.arange(6), targets.numpy()]))
    assert np.isclose(found.loss(), by_hand, rtol=1e-12, atol=0)


def test_accuracy_with_names_absent_classes_and_no_images():
    "Counts by hand: batches whose labels stop below the last class, a class never seen, and no batch at all."
    accuracy = Accuracy(4, classes=['cat', 'dog', 'fish', 'bird'])
    nothing = {'cat': None, 'dog': None, 'fish': None, 'bird': None}
    assert accuracy.compute() == dict(overall=None, per_class=nothing, count=0)
    accuracy.update(torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1]))  # labels 0 and 1 only
    accuracy.update(torch.tensor([2]), torch.tensor([0]))
    expected = dict(overall=0.5, per_class={'cat': 0.5, 'dog': 0.5, 'fish': None, 'bird': None}, count=4)
    assert accuracy.compute() == expected


def test_accuracy_counts_are_whole_numbers():
    "The counts are integer tensors (a float32 count stops growing at 2**24 images)."
    accuracy = Accuracy(3).update(torch.tensor([0, 2, 2, 1]), torch.tensor([0, 2, 1, 1]))
    assert accuracy.correct.dtype == torch.long and accuracy.correct.tolist() == [1, 1, 1]
    assert accuracy.total.dtype == torch.long and accuracy.total.tolist() == [1, 2, 1]


def test_roc_curves_skip_an_absent_class_and_keep_the_names():
    "Class 0 has no image: no curve for it, the others as scikit-learn computes them, under their names."
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(3), 8)
    targets = np.array([1, 2, 1, 2, 2, 1, 1, 2])
    expected = {name: skm.roc_auc_score(targets == c, probs[:, c]) for c, name in ((1, 'dog'), (2, 'fish'))}
    roc = roc_curves(probs, targets, classes=['cat', 'dog', 'fish'])
    assert roc.auc == expected
    assert roc.macro_auc == np.mean(list(expected.values()))
    fpr, tpr, _ = skm.roc_curve(targets == 2, probs[:, 2])
    assert np.array_equal(roc.fpr['fish'], fpr) and np.array_equal(roc.tpr['fish'], tpr)
    # a Predictions brings its own class names
    found = Predictions(torch.tensor(probs), torch.tensor(probs.argmax(1)), torch.tensor(targets))
    found.classes = ['cat', 'dog', 'fish']
    assert roc_curves(found).auc == expected


def test_vote_of_scores_and_a_negative_tie_break():
    "Members given as scores (N, C) vote with their argmax; tie_break=-3 of 3 models is the first model."
    labels = [[0, 1, 2, 0], [1, 1, 0, 2], [2, 1, 0, 1]]
    scores = [torch.eye(3)[row] * 0.5 + 0.1 for row in labels]
    # image 0 and 3: a three-way tie, the first model's label wins; image 1: all say 1; image 2: 0 wins 2-1
    assert majority_vote(scores).tolist() == [0, 1, 0, 0]
    assert majority_vote(scores, tie_break=-3).tolist() == [0, 1, 0, 0]
    assert majority_vote(scores, tie_break=-1).tolist() == [2, 1, 0, 1]


def test_weighted_mean_of_probabilities():
    "Weighted in float64, as by hand; Predictions in a dict and a single model are accepted."
    a = np.array([[0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    b = np.array([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    found = mean_probabilities([torch.tensor(a), torch.tensor(b)], weights=[0.1, 0.3])
    assert np.allclose(found.numpy(), (0.1 * a + 0.3 * b) / 0.4, rtol=1e-12, atol=0)
    named = {
        'one': Predictions(torch.tensor(a), torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1])),
        'two': Predictions(torch.tensor(b), torch.tensor([1, 0, 1]), torch.tensor([0, 1, 1])),
    }
    assert np.allclose(mean_probabilities(named).numpy(), (a + b) / 2, rtol=1e-12, atol=0)
    assert torch.equal(mean_probabilities([torch.tensor(a)]), torch.tensor(a))


@pytest.mark.parametrize(
    'call, said',
    [
        (
            lambda: Predictions(torch.rand(3, 2), LONG[:3], torch.tensor([0, -1, -1])).accuracy(),
            '2 of 3 images have no label (-1)\n'
            '  -> an unlabelled test set has no accuracy: write a submission file with `write_kaggle_csv` or '
            '`write_label_list`',
        ),
        (
            lambda: roc_curves(torch.rand(3, 2), torch.tensor([0, 1])),
            '3 predictions but 2 targets\n'
            '  -> roc_curves takes a Predictions, a Learner, or probabilities (N, n_classes) with targets',
        ),
        (
            lambda: roc_curves(np.zeros(3), np.zeros(3)),
            'got ndarray (3,)\n'
            '  -> roc_curves takes a Predictions, a Learner, or probabilities (N, n_classes) with targets',
        ),
        (
            lambda: roc_curves('probs.csv', [0, 1]),
            'got str ()\n'
            '  -> roc_curves takes a Predictions, a Learner, or probabilities (N, n_classes) with targets',
        ),
        (
            lambda: as_predictions({'probs': None}),
            'got dict ()\n'
            '  -> this function takes a Predictions, a Learner, or probabilities (N, n_classes) with targets',
        ),
        (
            lambda: roc_curves(Predictions(torch.rand(4, 3), LONG, torch.tensor([0, 1, 2]))),
            'probs (4, 3) and targets (3,) do not match\n  -> probs must be (N, n_classes), targets (N,)',
        ),
        (
            lambda: Accuracy(5).update(SCORES, torch.tensor([0, -1, 1, 2])),
            'targets has the label -1, outside 0..4\n  -> unlabelled images (label -1) have no accuracy',
        ),
        (
            lambda: Accuracy(2, ['cat', 'dog', 'fish']),
            '3 class names for 2 classes\n  -> give one name per class',
        ),
        (
            lambda: majority_vote([torch.tensor([1]), torch.tensor([1])], tie_break='b'),
            "tie_break='b' is a name, but the members are a list\n"
            '  -> pass a dict name -> predictions, or the position of the tie-break model',
        ),
        (
            lambda: majority_vote([torch.tensor([1])] * 3, tie_break=3),
            'tie_break=3 but there are 3 models\n  -> use 0..2',
        ),
        (
            lambda: majority_vote([torch.tensor([1, 2]), torch.tensor([1, 2, 3])]),
            'the models predicted different numbers of images: [2, 3]\n'
            '  -> predict the same images with every model',
        ),
        (
            lambda: mean_probabilities([torch.rand(2, 3), torch.rand(3, 3)]),
            "the models' probabilities differ in shape: [(2, 3), (3, 3)]\n"
            '  -> predict the same images with every model',
        ),
    ],
)
def test_more_refusals_in_these_words(call, said):
    "Each refusal, word for word: what is wrong, with the value, and the fix."
    with pytest.raises(CourseKitError) as refused:
        call()
    assert str(refused.value) == said


def test_what_cannot_be_a_tensor_is_named():
    "Words where numbers belong: the error names the argument and repeats what torch said."
    with pytest.raises(TypeError) as torch_says:
        torch.as_tensor(np.asarray(['cat', 'dog']))
    calls = {
        'preds': lambda: Accuracy(5).update(['cat', 'dog'], torch.tensor([0, 1])),
        'targets': lambda: Accuracy(5).update(torch.tensor([0, 1]), ['cat', 'dog']),
        'an ensemble member': lambda: majority_vote([['cat', 'dog']]),
        'probabilities': lambda: mean_probabilities([['cat', 'dog']]),
    }
    for what, call in calls.items():
        with pytest.raises(BadDataError) as refused:
            call()
        fix = 'pass a tensor, an array or a list of numbers'
        assert (
            str(refused.value) == f'{what} could not be turned into a tensor ({torch_says.value})\n  -> {fix}'
        )


def test_predictions_from_loaders_that_are_not_the_kits(learn, small):
    """A torch DataLoader (its dataset has no labels, names or classes) and a plain list of batches predict
    what one forward pass gives."""
    batches = list(learn.dls.valid)
    images = torch.cat([xb for xb, _ in batches])
    labels = torch.cat([yb for _, yb in batches])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=8)
    for dl in (loader, batches):
        found = get_predictions(learn, dl)
        assert torch.allclose(found.probs, by_hand(learn, None), atol=1e-6)
        assert torch.equal(found.targets, small.valid.labels)
        assert found.classes is None and found.names is None


def test_the_loss_while_predicting(learn, small):
    "fastai computes a loss per batch: the model's cross-entropy on labelled images, zero on unlabelled ones."
    get_predictions(learn)
    xb, yb = list(learn.dls.valid)[-1]
    learn.model.eval()
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(learn.model(xb), yb)
    assert torch.isclose(learn.loss, expected, atol=1e-6)
    hidden = small.test.subset(range(32))
    hidden.labels = torch.full_like(hidden.labels, -1)
    get_predictions(learn, learn.dls.valid.new(hidden, shuffle=False))
    assert float(learn.loss) == 0.0


def test_a_rehearsal_of_a_set_without_file_names(learn, small):
    learn.rehearsal = Rehearsal(batches=1, images=12)
    try:
        found = get_predictions(learn)
    finally:
        del learn.rehearsal
    assert found.names is None and torch.allclose(found.probs, by_hand(learn, None)[:12], atol=1e-6)


def test_a_learner_without_a_recorder_predicts(learn):
    with learn.removed_cbs(learn.recorder):
        found = get_predictions(learn)
    assert torch.allclose(found.probs, by_hand(learn, None), atol=1e-6)


def test_ensembles_and_roc_curves_take_a_learner(learn):
    "A Learner stands for the predictions of its valid set."
    found = get_predictions(learn)
    assert torch.equal(majority_vote([learn]), found.preds)
    assert torch.allclose(mean_probabilities({'only': learn}), found.probs.double())
    assert roc_curves(learn).auc == roc_curves(found).auc


class BatchSizes(Callback):
    "The number of images in each batch the model sees."

    def before_fit(self):
        self.sizes = []

    def before_batch(self):
        self.sizes.append(len(self.learn.xb[0]))


def predict_as(rank, small, folder):
    """Process `rank` of 2 (gloo, a fresh process): the same tiny learner, its predictions of the test digits
    and the batch sizes it saw, saved."""
    torch.set_num_threads(1)
    store = f'file://{folder}/store'
    timeout = datetime.timedelta(seconds=60)
    torch.distributed.init_process_group('gloo', init_method=store, rank=rank, world_size=2, timeout=timeout)
    learn = tiny_learner(small)
    sizes = BatchSizes()
    with learn.added_cbs(sizes):
        found = get_predictions(learn, learn.dls.valid.new(small.test, shuffle=False))
    torch.save(dict(probs=found.probs, targets=found.targets, sizes=sizes.sizes), folder / f'{rank}.pt')
    torch.distributed.destroy_process_group()


def test_two_processes_predict_a_share_each_and_gather_all(small, tmp_path):
    """Two processes (started fresh, gloo): each predicts half of every batch of 16, and each gets the
    predictions of all 32 test images, the same as one process alone. (Not forked: a process forked after
    torch has used its OpenMP threads can hang in its first convolution.)"""
    learn = tiny_learner(small)
    alone = get_predictions(learn, learn.dls.valid.new(small.test, shuffle=False))
    spawned = multiprocessing.get_context('spawn')
    processes = [spawned.Process(target=predict_as, args=(rank, small, tmp_path)) for rank in (0, 1)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(180)
        process.kill()  # only if it still runs
    assert [process.exitcode for process in processes] == [0, 0]
    for rank in (0, 1):
        got = torch.load(tmp_path / f'{rank}.pt')
        assert got['sizes'] == [8, 8]
        assert torch.allclose(got['probs'], alone.probs, atol=1e-6)
        assert torch.equal(got['targets'], small.test.labels)


def test_under_torchrun_a_loader_that_is_not_the_kits_is_refused(learn, small, monkeypatch):
    "Every process would predict every image of a torch DataLoader, and the gathered rows would repeat."
    images = small.test.images.float() / 255
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, small.test.labels), batch_size=16)
    monkeypatch.setenv('WORLD_SIZE', '2')  # what torchrun sets in each of two processes
    monkeypatch.setenv('RANK', '0')
    with pytest.raises(CourseKitError) as err:
        get_predictions(learn, dl)
    assert err.value.message == (
        "under torchrun get_predictions needs the kit's DeviceLoader, not a DataLoader: every process would "
        'predict every image, and the gathered predictions would hold each 2 times'
    )
    assert err.value.fix == 'build the loaders with get_dls, or predict in one process'


def test_roc_curves_need_a_name_for_every_class():
    "Names for 2 of 3 classes would drop the third class's curve from the macro AUC."
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    with pytest.raises(BadDataError) as err:
        roc_curves(probs, torch.tensor([0, 1, 2]), ['a', 'b'])
    assert (err.value.message, err.value.fix) == ('2 class names for 3 classes', 'give one name per class')
