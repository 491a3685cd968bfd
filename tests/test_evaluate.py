"Evaluation: the kit's metrics equal scikit-learn's, report A's vote rule, and the submission checker."

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from course_kit.core import BadDataError
from course_kit.evaluate import (
    Accuracy,
    Predictions,
    majority_vote,
    mean_probabilities,
    per_class_accuracy,
    roc_curves,
    top_k_accuracy,
)
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
