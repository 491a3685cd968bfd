"reports/claims.json: every claim as the writeup states it, with its metric and the words it comes from."

import json
import re
import pytest
from conftest import ROOT, need

CLAIMS = json.loads((ROOT / 'reports' / 'claims.json').read_text())
REPORTS = {name: entries for name, entries in CLAIMS.items() if isinstance(entries, list)}
ENTRIES = [(name, entry) for name, entries in REPORTS.items() for entry in entries]
METRICS = {'valid_accuracy', 'test_accuracy', 'train_accuracy', 'test_loss', 'valid_loss'}
SEEDS = ROOT.parent / 'shared' / 'seeds'  # the writeups, beside the repository (not part of a clone)
WRITEUP = {
    'a_ensemble': '000',
    'b_cifar100': '001',
    'c_digit_sum': '002',
    'd_cifar10': '003',
    'e_caltech101': '004',
}


def as_written(value: float) -> set:
    "How a fraction may appear in a writeup: 0.8636 as '86.36', 0.78 as '0.78', 0.8 as '80'."
    percent = round(value * 100, 4)
    return {f'{percent:g}', f'{value:g}', f'{percent:.1f}', f'{percent:.2f}'}


def test_every_report_has_claims():
    assert set(WRITEUP) == set(REPORTS)


@pytest.mark.parametrize('report,entry', ENTRIES, ids=[f'{r}:{e["experiment"]}' for r, e in ENTRIES])
def test_claim_has_value_metric_and_quote(report, entry):
    assert entry['experiment'] and entry['source'].startswith('writeup ')
    assert 'claimed' in entry and (entry['claimed'] is None or 0 < entry['claimed'] <= 1), entry['claimed']
    assert entry['metric'] in METRICS and entry['stated'] and entry['quote']
    if entry['claimed'] is None:
        assert entry['stated'].startswith('no number'), 'a claim without a number says so in `stated`'
    else:
        assert as_written(entry['claimed']) & set(re.findall(r'\d+(?:\.\d+)?', entry['quote'])), (
            f'{entry["claimed"]} is not in its quote {entry["quote"]!r}'
        )
    for metric, value in (entry.get('also') or {}).items():
        assert metric in METRICS
        if value is not None:
            assert as_written(value) & set(re.findall(r'\d+(?:\.\d+)?', entry['quote'])), (
                f'{metric} {value} not in {entry["quote"]!r}'
            )


def test_no_projection_is_a_claim():
    "A's 'about 60 epochs should reach 90 %' is a projection, not a result: it carries no number."
    medium = next(e for e in REPORTS['a_ensemble'] if e['experiment'] == 'medium CNN [64]')
    assert medium['claimed'] is None and 'projection' in medium['note']


def test_a_compares_validation_and_b_keeps_the_writeups_precision():
    table = {e['experiment']: e for e in REPORTS['a_ensemble']}
    assert all(
        table[n]['metric'] == 'valid_accuracy'
        for n in ('MobileNet[64]', 'MobileNet[224]', 'ResNet50[224]', 'vote')
    )
    resnet = {e['experiment']: e for e in REPORTS['b_cifar100'] if e['experiment'].startswith('ResNet-50')}
    assert (
        resnet['ResNet-50 features']['claimed'] == 0.3834
        and resnet['ResNet-50 fine-tune']['claimed'] == 0.6413
    )
    assert resnet['ResNet-50 fine-tune']['also']['train_accuracy'] == 0.9937


def test_e_carries_all_25_rows_with_their_validation_numbers():
    rows = REPORTS['e_caltech101']
    assert len(rows) == 25 and len({e['experiment'] for e in rows}) == 25
    assert all('valid_accuracy' in e['also'] for e in rows)


@pytest.mark.parametrize('report,entry', ENTRIES, ids=[f'{r}:{e["experiment"]}' for r, e in ENTRIES])
def test_quote_is_in_the_writeup(report, entry):
    "Every quote is the writeup's own words (an ellipsis joins two pieces of one sentence or table row)."
    need(SEEDS.is_dir(), 'the writeups beside this clone (../shared/seeds)')

    def normal(text):
        return re.sub(r'\s+', ' ', text.replace('\u2019', "'")).lower()

    writeup = normal(next(SEEDS.glob(f'{WRITEUP[report]}_*.txt')).read_text())
    for piece in filter(None, (p.strip() for p in entry['quote'].split('...'))):
        assert normal(piece) in writeup, piece
