"""One item check for every fan-out stage (`bench.items`): a wrong name fails at once, naming the valid ones, and
leaves no output behind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from autoencoders import compress, proxies
from autoencoders import evaluate as eval_ae
from autoencoders import train as train_ae
from bench.items import check_autoencoder_item, check_diffusion_item
from diffusion import evaluate as eval_gen
from diffusion import extract, sample
from diffusion import train as train_dit
from tests.conftest import tiny_params

AUTOENCODER_STAGES = [train_ae, eval_ae, compress, proxies]
DIFFUSION_STAGES = [extract, train_dit, sample, eval_gen]


@pytest.mark.parametrize("stage", AUTOENCODER_STAGES + DIFFUSION_STAGES, ids=lambda m: m.__name__)
def test_every_fan_out_stage_refuses_an_unknown_item_before_any_work(stage, tmp_path):
    params = tiny_params(tmp_path)
    expected = "unknown autoencoder item 'vqgan'" if stage in AUTOENCODER_STAGES else "'vqgan' is not under"
    with pytest.raises(ValueError, match=expected):
        stage.main(params, "vqgan")
    assert not Path(params.paths.runs).exists()  # nothing written, for this item or any other


def test_the_messages_list_the_valid_names(tmp_path):
    params = tiny_params(tmp_path)
    with pytest.raises(ValueError, match=r"expected one of \[.*'vmae'.*\]"):
        check_autoencoder_item(params, "vqgan")
    with pytest.raises(ValueError, match=r"items: \[.*'vmae'.*\]"):
        check_diffusion_item(params, "vqgan")
    check_autoencoder_item(params, "vmae")
    check_diffusion_item(params, "vmae")


def test_training_sets_must_be_made_by_the_data_stage(tmp_path):
    params = tiny_params(tmp_path)
    # Built past the loader (which may refuse it first): the check itself must catch it too.
    params = dataclasses.replace(params, autoencoders=dataclasses.replace(params.autoencoders, train_sets=("cats",)))
    with pytest.raises(ValueError, match=r"train_sets \['cats'\] are not in data.sets"):
        check_autoencoder_item(params, "ae")
