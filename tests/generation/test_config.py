"""GenerationConfig: transformers' names and defaults, hashable, JSON loading,
overrides, validation, length resolution and the static / dynamic split."""

import dataclasses
import json

import numpy as np
import pytest
from transformers.generation.configuration_utils import GenerationConfig as HFGenerationConfig

from jaxnlp.generation import DYNAMIC_FIELDS, GenerationConfig


def test_defaults_are_transformers_defaults():
    hf_defaults = HFGenerationConfig._get_default_generation_params()
    ours = GenerationConfig()
    for name in GenerationConfig.option_names():
        expected = hf_defaults.get(name, getattr(HFGenerationConfig(), name, None))
        assert getattr(ours, name) == expected, name


def test_hashable_and_lists_become_tuples():
    cfg = GenerationConfig(eos_token_id=[1, 2], bad_words_ids=[[3], [4, 5]], suppress_tokens=[7])
    assert cfg.eos_token_id == (1, 2) and cfg.bad_words_ids == ((3,), (4, 5)) and cfg.suppress_tokens == (7,)
    assert hash(cfg) == hash(GenerationConfig(eos_token_id=(1, 2), bad_words_ids=((3,), (4, 5)),
                                              suppress_tokens=(7,)))
    assert {cfg: 1}[cfg] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.num_beams = 3


def test_from_dict_keeps_unknown_fields_and_drops_metadata():
    cfg = GenerationConfig.from_dict({"num_beams": 4, "eos_token_id": [1, 2], "typical_p": 0.9,
                                      "watermarking_config": {"bias": [1, 2]},
                                      "transformers_version": "5.0", "_from_model_config": True,
                                      "max_length": None})
    assert cfg.num_beams == 4 and cfg.eos_ids == (1, 2) and cfg.max_length == 20
    assert dict(cfg.extra) == {"typical_p": 0.9, "watermarking_config": {"bias": (1, 2)}}
    assert cfg.set_fields == {"num_beams", "eos_token_id"}
    hash(cfg)
    assert cfg.to_dict()["watermarking_config"] == {"bias": [1, 2]}


def test_from_model_dir(tmp_path):
    # generation_config.json wins over config.json, as in transformers
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "num_beams": 7,
                                                      "eos_token_id": 5}))
    (tmp_path / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": 50256, "eos_token_id": 50256, "transformers_version": "5.0.0"}))
    cfg = GenerationConfig.from_model_dir(tmp_path)
    assert cfg.eos_token_id == 50256 and cfg.bos_token_id == 50256 and cfg.num_beams == 1
    assert "transformers_version" not in cfg.extra

    # no generation_config.json: generation options of config.json (BART style), with
    # unset ones filled from a decoder sub-config; architecture fields are not kept
    (tmp_path / "generation_config.json").unlink()
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "bart", "d_model": 16, "num_beams": 4, "max_length": 142, "early_stopping": True,
        "no_repeat_ngram_size": 3, "length_penalty": 2.0, "forced_bos_token_id": 0, "eos_token_id": 2,
        "pad_token_id": 1, "decoder_start_token_id": None, "decoder": {"decoder_start_token_id": 2,
                                                                       "num_beams": 9}}))
    cfg = GenerationConfig.from_model_dir(tmp_path)
    assert (cfg.num_beams, cfg.max_length, cfg.early_stopping, cfg.no_repeat_ngram_size) == (4, 142, True, 3)
    assert (cfg.length_penalty, cfg.forced_bos_token_id, cfg.decoder_start_token_id) == (2.0, 0, 2)
    assert "d_model" not in cfg.extra and "max_length" in cfg.set_fields

    with pytest.raises(FileNotFoundError):
        GenerationConfig.from_model_dir(tmp_path / "missing")


def test_replace():
    cfg = GenerationConfig(max_length=30).replace(num_beams=3, eos_token_id=[1])
    assert cfg.num_beams == 3 and cfg.eos_token_id == (1,) and "num_beams" in cfg.set_fields
    with pytest.raises(ValueError, match="num_beam'"):
        cfg.replace(num_beam=3)
    reset = cfg.replace(max_length=None)       # None = unset, like generate(max_length=None)
    assert reset.max_length == 20 and "max_length" not in reset.set_fields


@pytest.mark.parametrize("options,field", [
    (dict(do_sample=True, temperature=0.0), "temperature"),
    (dict(do_sample=True, temperature=-1.0), "temperature"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(top_k=-1), "top_k"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(num_beams=2, num_return_sequences=3), "num_return_sequences"),
    (dict(num_return_sequences=2), "num_return_sequences"),          # greedy
    (dict(num_beams=0), "num_beams"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(early_stopping="sometimes"), "early_stopping"),
    (dict(no_repeat_ngram_size=-2), "no_repeat_ngram_size"),
    (dict(eos_token_id=-1), "eos_token_id"),
    (dict(bad_words_ids=((),)), "bad_words_ids"),
    (dict(min_length=-1), "min_length"),
])
def test_validate_names_the_field(options, field):
    with pytest.raises(ValueError, match=f"`{field}`"):
        GenerationConfig(**options).validate()


def test_validate_accepts_good_configs():
    GenerationConfig().validate()
    GenerationConfig(do_sample=True, temperature=0.5, top_p=0.9, top_k=0, num_return_sequences=4).validate()
    GenerationConfig(num_beams=4, num_return_sequences=4, early_stopping="never", eos_token_id=(1, 2)).validate()


def test_resolve_lengths_like_transformers():
    # unset max_length: 20 new tokens (capped at max_position_embeddings)
    assert GenerationConfig().resolve_lengths(7).max_length == 27
    assert GenerationConfig().resolve_lengths(7, max_position_embeddings=16).max_length == 16
    # explicit max_length is absolute; max_new_tokens wins; min_new_tokens -> min_length
    assert GenerationConfig().replace(max_length=20).resolve_lengths(7).max_length == 20
    cfg = GenerationConfig(max_length=50, max_new_tokens=5, min_new_tokens=2).resolve_lengths(7)
    assert (cfg.max_length, cfg.min_length, cfg.max_new_tokens) == (12, 9, None)
    assert cfg.resolve_lengths(7) == cfg                                  # idempotent


def test_static_dynamic_split():
    a = GenerationConfig(do_sample=True, temperature=0.7, top_p=0.9, repetition_penalty=1.2, length_penalty=2.0)
    b = a.replace(temperature=1.3, top_p=0.5, repetition_penalty=1.0, length_penalty=0.5)
    static_a, params_a = a.split()
    static_b, params_b = b.split()
    assert static_a == static_b and hash(static_a) == hash(static_b) and static_a.is_static
    assert all(getattr(static_a, f) is None for f in DYNAMIC_FIELDS)
    np.testing.assert_allclose([params_a.temperature, params_a.top_p, params_a.repetition_penalty,
                                params_a.length_penalty], [0.7, 0.9, 1.2, 2.0], rtol=1e-7)
    # 1 - top_p in float64 then float32, like torch's comparison with a Python float
    assert params_a.top_p_threshold == np.float32(1.0 - 0.9)
    # top_p 1.0 means "no top-p warper" (transformers skips it): a different program
    assert a.replace(top_p=1.0).static != static_a and not a.replace(top_p=1.0).static.uses_top_p
    with pytest.raises(ValueError):
        static_a.dynamic
    with pytest.raises(ValueError, match="validate"):
        static_a.validate()


def test_check_supported_rejects_active_unimplemented_options():
    GenerationConfig.from_dict({"typical_p": 1.0, "num_beam_groups": 1, "output_scores": True}).check_supported()
    with pytest.raises(ValueError, match="`typical_p`"):
        GenerationConfig.from_dict({"typical_p": 0.9}).check_supported()
    with pytest.raises(ValueError, match="`sequence_bias`"):
        GenerationConfig.from_dict({"sequence_bias": [[[1], -1.0]]}).check_supported()
