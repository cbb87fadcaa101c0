"""Every encoder architecture x head against transformers (PyTorch, CPU) on
the same tiny random checkpoint, saved as safetensors and as a torch .bin."""

from __future__ import annotations

import numpy as np
import pytest

import jaxnlp
from support.tiny import SPECS, TASK_CLASS, make_model, padded_batch, rel_error, save_bin, save_safetensors, torch_outputs

TOL = 1e-4


def _errors(ours, ref, task):
    if task == "question-answering":
        assert isinstance(ours, tuple) and len(ours) == 2
        return max(rel_error(ours[0], ref[0]), rel_error(ours[1], ref[1]))
    return rel_error(ours, ref)


@pytest.mark.parametrize("task", list(TASK_CLASS))
@pytest.mark.parametrize("model_type", list(SPECS))
def test_forward_matches_transformers(model_type, task, tmp_path):
    model = make_model(model_type, task)
    batch = padded_batch(model_type)
    ref = torch_outputs(model, task, batch)
    st = jaxnlp.load_model(save_safetensors(model, tmp_path / "st"), task=task)
    out_st = st(**batch)
    assert _errors(out_st, ref, task) <= TOL
    pt = jaxnlp.load_model(save_bin(model, tmp_path / "bin"), task=task)
    assert _errors(pt(**batch), ref, task) <= TOL


@pytest.mark.parametrize("model_type", ["bert", "roberta", "albert", "electra", "distilbert"])
def test_untied_masked_lm_head(model_type, tmp_path):
    model = make_model(model_type, "masked-lm", seed=1, tie_word_embeddings=False)
    batch = padded_batch(model_type)
    ref = torch_outputs(model, "masked-lm", batch)
    ours = jaxnlp.load_model(save_safetensors(model, tmp_path), task="masked-lm")
    assert "decoder" in ours.params["lm_head"]
    assert rel_error(ours(**batch), ref) <= TOL


@pytest.mark.parametrize("model_type", list(SPECS))
def test_bfloat16_forward(model_type, tmp_path):
    # At initializer_range 0.2 PyTorch's own bfloat16 forward is up to 4.7e-2
    # off its float32 one on these tiny models; at 0.05 (closer to trained
    # weights' scale) both PyTorch's and ours stay under 1e-2.
    model = make_model(model_type, "sequence-classification", initializer_range=0.05)
    batch = padded_batch(model_type)
    ref = torch_outputs(model, "sequence-classification", batch)
    path = save_safetensors(model, tmp_path)
    ours = jaxnlp.load_model(path, task="sequence-classification", dtype="bfloat16")
    assert ours.params["classifier"]["out_proj"]["kernel"].dtype == np.float32   # param dtype kept
    assert rel_error(ours(**batch), ref) <= 2e-2
    both = jaxnlp.load_model(path, task="sequence-classification", dtype="bfloat16", param_dtype="bfloat16")
    assert both.params["classifier"]["out_proj"]["kernel"].dtype.name == "bfloat16"
    assert rel_error(both(**batch), ref) <= 2e-2


def test_base_model_from_a_full_checkpoint(tmp_path):
    """A masked-LM checkpoint loads as `base` (the LM head is left out, as
    transformers' BertModel.from_pretrained does), with the same hidden states."""
    model = make_model("bert", "masked-lm")
    batch = padded_batch("bert")
    import torch
    with torch.no_grad():
        ref = model.bert(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state.numpy()
    ours = jaxnlp.load_model(save_safetensors(model, tmp_path), task="base")
    assert rel_error(ours(**batch), ref) <= TOL


def test_legacy_layernorm_names(tmp_path):
    """Old checkpoints call LayerNorm parameters gamma/beta."""
    import torch
    model = make_model("bert", "base")
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
             for k, v in model.state_dict().items()}
    assert any(k.endswith("gamma") for k in state)
    tmp_path.mkdir(exist_ok=True)
    model.config.to_json_file(tmp_path / "config.json")
    torch.save(state, tmp_path / "pytorch_model.bin")
    batch = padded_batch("bert")
    assert rel_error(jaxnlp.load_model(tmp_path)(**batch), torch_outputs(model, "base", batch)) <= TOL
