"Evaluation: the kit's metrics equal scikit-learn's, report A's vote rule, and the submission checker."

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from course_kit.core import BadDataError, CourseKitError
from course_kit.evaluate import (
    Accuracy,
    Predictions,
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


@pytest.fixture(scope='module')
def learn(small):
    "An untrained tiny CNN on 32 validation and 32 test digits (batches of 8): its learner."
    torch.manual_seed(0)
    model = get_model('small_cnn', 10, in_channels=1, widths=(8, 16))
    return make_learner(get_dls(small, batch_size=8, device='cpu'), model, Recipe(epochs=1), progress=False)


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
