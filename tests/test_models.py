"Model and transfer checks that are awkward in a notebook: failed downloads, a fresh import, the heavier VGG."

import subprocess
import sys
import urllib.error
import pytest
import torch
from torch import nn
from conftest import ROOT
from course_kit.core import WeightsNotFoundError
from course_kit.models import MODELS, get_model, output_shapes
from course_kit import transfer
from course_kit.transfer import (
    create_transfer_model,
    weights_file,
    get_weights,
    add_lora,
    merge_lora,
    trainable_names,
    freeze,
    param_group_names,
    TRANSFER_ARCHS,
)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    "An empty torch hub cache."
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    return tmp_path


def test_download_failure_names_file_url_and_folder(torch_home, monkeypatch):

    def no_network(url, dst, *args, **kwargs):
        raise urllib.error.URLError('no network')

    # the host answers, the download fails
    monkeypatch.setattr(transfer, 'network_answers', lambda url, timeout=3.0: True)
    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_network)
    weights = get_weights('mobilenet_v2')
    with pytest.raises(WeightsNotFoundError) as error:
        create_transfer_model('mobilenet_v2', 10, allow_download=True)
    message = str(error.value)
    assert 'could not download' in message and weights.url in message
    assert str(weights_file(weights).parent) in message and weights_file(weights).name in message
    assert weights_file(weights).parent == torch_home / 'hub' / 'checkpoints'


def test_offline_says_so_at_once(torch_home, monkeypatch):

    monkeypatch.setattr(transfer, 'network_answers', lambda url, timeout=3.0: False)

    def must_not_run(*args, **kwargs):
        raise AssertionError('no download may start when the host does not answer')

    monkeypatch.setattr(torch.hub, 'download_url_to_file', must_not_run)
    with pytest.raises(WeightsNotFoundError, match='does not answer') as error:
        create_transfer_model('resnet18', 10, allow_download=True)
    assert get_weights('resnet18').url in str(error.value)


def test_download_off_by_setting(torch_home, monkeypatch):
    monkeypatch.setenv('COURSE_KIT_ALLOW_DOWNLOAD', 'false')
    with pytest.raises(WeightsNotFoundError, match='downloading is off'):
        create_transfer_model('efficientnet_b0', 10)


def test_planted_weights_with_explicit_enum_name(torch_home):
    weights = get_weights('mobilenet_v3_small', 'IMAGENET1K_V1')
    state = create_transfer_model('mobilenet_v3_small', 1000, pretrained=False).state_dict()
    weights_file(weights).parent.mkdir(parents=True)
    torch.save(state, weights_file(weights))
    model = create_transfer_model(
        'mobilenet_v3_small', 5, pretrained='IMAGENET1K_V1', dropout=0.3, allow_download=False
    )
    assert torch.equal(model.features[0][0].weight, state['features.0.0.weight'])
    assert isinstance(model.classifier[3][0], nn.Dropout) and model.classifier[3][1].out_features == 5


def test_every_family_gets_its_head():
    for arch in ('vgg11_bn', 'efficientnet_b0', 'mobilenet_v3_large'):
        model = create_transfer_model(arch, 7, pretrained=False)
        assert model.get_submodule(TRANSFER_ARCHS[arch]).out_features == 7
        assert output_shapes(model, 64, batch_size=1) == {64: (1, 7)}
        assert freeze(model, 'body') == [TRANSFER_ARCHS[arch] + '.weight', TRANSFER_ARCHS[arch] + '.bias']
        groups = param_group_names(model)
        assert sum(groups, []) == [n for n, _ in model.named_parameters()]


def test_lora_skips_depthwise_convolutions():
    model = create_transfer_model('mobilenet_v2', 10, pretrained=False).eval()
    add_lora(model, rank=2)
    depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert depthwise and not any(p.requires_grad for m in depthwise for p in m.parameters())
    assert all('lora_' in n or n.startswith('classifier.1.') for n in trainable_names(model))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'lora_b' in name:
                p.normal_(0, 0.01)
        x = torch.randn(1, 3, 64, 64)
        assert torch.allclose(merge_lora(model).eval()(x), model(x), atol=1e-4)


def test_get_model_finds_transfer_models_without_importing_them():
    code = (
        "from course_kit.models import get_model; print(type(get_model('resnet18', 3, "
        'pretrained=False)).__name__)'
    )
    result = subprocess.run(
        [sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.stdout.strip() == 'ResNet', result.stderr


def test_unknown_names_list_what_is_accepted():
    with pytest.raises(Exception, match="did you mean 'mobilenet_v2'"):
        get_model('mobilenet_v1', 10)
    with pytest.raises(Exception, match='accepted: allow_download, dropout, hidden, pretrained'):
        get_model('resnet18', 10, freeze=True)
    assert {'two_block_cnn', 'three_block_cnn', 'vit', 'cifar_vgg'} <= set(MODELS)
    # one rule: random weights unless pretrained=True
    torch.manual_seed(0)
    default = get_model('alexnet', 5).state_dict()
    torch.manual_seed(0)
    random_init = get_model('alexnet', 5, pretrained=False).state_dict()
    assert all(torch.equal(default[k], random_init[k]) for k in default)
