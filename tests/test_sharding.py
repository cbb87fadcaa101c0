"""jaxnlp.sharding and load_model / generate / pipeline with a mesh.

The rule table and bad input run here (an AbstractMesh needs no devices).
Multi-device cases need 8 CPU devices, which XLA fixes when its backend
starts, so tests/sharding_cases.py runs them in ONE subprocess (module
fixture) and reports per case; sharded results are compared with the same
checkpoint loaded without a mesh: logits within 1e-5 (max |diff| / max |ref|,
tests/support/tiny.py's rel_error), generated tokens exact."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import transformers
from jax.sharding import AbstractMesh, PartitionSpec as P

import jaxnlp
from jaxnlp.models.auto import build_module
from jaxnlp.sharding import as_mesh, attention_heads, batch_spec, cache_specs, make_mesh, param_specs

TOL = 1e-5
MESHES = ("2x4", "8x1", "1x8")
MODELS = ("bert", "gpt2", "bart")


# ------------------------------------------------------------- rule table

def specs_for(hf_config, task, mesh_shape=(2, 4)):
    config_dict = hf_config.to_dict()
    _, config, _, expected = build_module(config_dict, task)
    mesh = AbstractMesh(mesh_shape, ("data", "model"))
    specs = param_specs(expected, mesh, num_heads=attention_heads(config))
    flat = {"/".join(str(k.key) for k in path): s for path, s in jax.tree_util.tree_leaves_with_path(specs)}
    return flat


def test_rule_table_bert():
    specs = specs_for(transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                              num_attention_heads=4, intermediate_size=64), "masked-lm")
    layer = "bert/encoder/layers_0/"
    assert specs[layer + "attention/query/kernel"] == P(None, "model")
    assert specs[layer + "attention/value/bias"] == P("model")
    assert specs[layer + "attention/output/kernel"] == P("model", None)
    assert specs[layer + "attention/output/bias"] == P()
    assert specs[layer + "intermediate/kernel"] == P(None, "model")
    assert specs[layer + "output/kernel"] == P("model", None)                 # feed-forward out
    assert specs[layer + "output_norm/scale"] == P()
    assert specs["bert/embeddings/word_embeddings/embedding"] == P("model", None)
    assert specs["bert/embeddings/position_embeddings/embedding"] == P()
    assert all(s == P() for k, s in specs.items() if k.startswith("lm_head/") and "kernel" in k)


def test_rule_table_heads_must_divide():
    # 6 heads on model=4: heads*head_dim = 48 divides, but whole heads do not -> replicated
    specs = specs_for(transformers.BertConfig(vocab_size=99, hidden_size=48, num_hidden_layers=1,
                                              num_attention_heads=6, intermediate_size=37), "base")
    layer = "bert/encoder/layers_0/"
    assert specs[layer + "attention/query/kernel"] == P()
    assert specs[layer + "attention/output/kernel"] == P()
    assert specs[layer + "intermediate/kernel"] == P(None, None)              # 37 does not divide by 4
    assert specs["bert/embeddings/word_embeddings/embedding"] == P(None, None)   # nor 99
    # without head counts only the dimension counts
    _, _, _, expected = build_module(transformers.BertConfig(
        vocab_size=99, hidden_size=48, num_hidden_layers=1, num_attention_heads=6).to_dict(), "base")
    plain = param_specs(expected, AbstractMesh((2, 4), ("data", "model")))
    assert plain["bert"]["encoder"]["layers_0"]["attention"]["query"]["kernel"] == P(None, "model")


def test_rule_table_gpt2_bart_t5():
    gpt2 = specs_for(transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=1, n_head=4, n_inner=64,
                                             tie_word_embeddings=False), "causal-lm")
    assert gpt2["transformer/h_0/attn/qkv/kernel"] == P(None, "model")
    assert gpt2["transformer/h_0/attn/output/kernel"] == P("model", None)
    assert gpt2["transformer/h_0/mlp/c_fc/kernel"] == P(None, "model")
    assert gpt2["transformer/h_0/mlp/c_proj/kernel"] == P("model", None)
    assert gpt2["transformer/wte/embedding"] == P("model", None)
    assert gpt2["lm_head/kernel"] == P(None, "model")
    assert gpt2["transformer/ln_f/scale"] == P()

    bart = specs_for(transformers.BartConfig(vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1,
                                             encoder_attention_heads=4, decoder_attention_heads=4,
                                             encoder_ffn_dim=32, decoder_ffn_dim=32), "seq2seq-lm")
    dec = "model/decoder/layers_0/"
    assert bart[dec + "encoder_attn/key/kernel"] == P(None, "model")
    assert bart[dec + "self_attn/output/kernel"] == P("model", None)
    assert bart[dec + "fc1/kernel"] == P(None, "model") and bart[dec + "fc2/kernel"] == P("model", None)
    assert bart["model/shared/embedding"] == P("model", None)
    assert bart["final_logits_bias"] == P()

    t5 = specs_for(transformers.T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=4,
                                         feed_forward_proj="gated-gelu", tie_word_embeddings=False), "seq2seq-lm")
    assert t5["encoder/block_0/self_attn/query/kernel"] == P(None, "model")
    assert t5["decoder/block_0/cross_attn/output/kernel"] == P("model", None)
    assert t5["encoder/block_0/ff/wi_0/kernel"] == P(None, "model")
    assert t5["encoder/block_0/ff/wo/kernel"] == P("model", None)
    assert t5["encoder/relative_attention_bias/embedding"] == P()
    assert t5["lm_head/kernel"] == P(None, "model")


def test_batch_and_cache_specs():
    mesh = AbstractMesh((2, 4), ("data", "model"))
    assert batch_spec((4, 7), mesh) == P("data", None)
    assert batch_spec((3, 7), mesh) == P(None, None)                           # does not divide: replicated
    cache = {"k": jax.ShapeDtypeStruct((6, 4, 8, 16), np.float32),            # [B, N, H, L]
             "v": jax.ShapeDtypeStruct((6, 6, 16, 8), np.float32),            # 6 heads: not over model
             "mask": jax.ShapeDtypeStruct((6, 16), np.int32)}
    specs = cache_specs(cache, mesh)
    assert specs == {"k": P("data", "model", None, None), "v": P("data", None, None, None),
                     "mask": P("data", None)}


# -------------------------------------------------------------- bad input

def test_bad_meshes():
    with pytest.raises(TypeError, match="jax.sharding.Mesh"):
        as_mesh("data=2")
    with pytest.raises(TypeError, match="jax.sharding.Mesh"):
        as_mesh(AbstractMesh((1, 1), ("data", "model")))                      # placing needs devices
    wrong = jax.sharding.Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("batch", "tensor"))
    with pytest.raises(ValueError, match="'data' and 'model'"):
        as_mesh(wrong)
    with pytest.raises(ValueError, match="needs .* devices"):
        make_mesh(data=len(jax.devices()) + 1, model=1)
    with pytest.raises(ValueError, match="model must be a positive int"):
        make_mesh(model=0)
    with pytest.raises(ValueError, match="data must be a positive int"):
        make_mesh(data=1.5)
    with pytest.raises(ValueError, match="model must be a positive int"):      # a bool is not a size
        make_mesh(1, True)
    with pytest.raises(ValueError, match="more than once"):
        make_mesh(2, 1, devices=[jax.devices()[0]] * 2)


def test_make_mesh_and_one_device_mesh(tmp_path):
    mesh = make_mesh()
    assert mesh.axis_names == ("data", "model") and mesh.shape["data"] == len(jax.devices())
    with pytest.raises(TypeError, match="jax.sharding.Mesh"):                # before reading anything
        jaxnlp.load_model(tmp_path / "missing", mesh=(2, 4))


# ------------------------------------------------------ 8 devices (subprocess)

@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    work = tmp_path_factory.mktemp("sharding")
    root = Path(__file__).parent
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "PYTHONPATH": os.pathsep.join([str(root.parent), str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(root / "sharding_cases.py"), str(work)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def get(cases, name):
    assert name in cases, f"case {name} did not run"
    result = cases[name]
    assert result["ok"], result.get("error")
    return result


@pytest.mark.parametrize("mesh", MESHES)
@pytest.mark.parametrize("model", MODELS)
def test_sharded_forward_equals_single_device(cases, model, mesh):
    result = get(cases, f"forward/{model}/{mesh}")
    assert result["ref_std"] > 0.1                       # the logits vary: the comparison means something
    assert result["rel_error"] <= TOL


def test_t5_explicit_mesh_and_shard_model_forward(cases):
    for name in ("forward/t5/2x4", "forward/gpt2/explicit-2x4", "forward/gpt2/shard_model-2x4"):
        result = get(cases, name)
        assert result["ref_std"] > 0.1 and result["rel_error"] <= TOL, (name, result)


@pytest.mark.parametrize("mode", ["greedy", "beam"])
@pytest.mark.parametrize("mesh", MESHES)
@pytest.mark.parametrize("model", ["gpt2", "bart"])
def test_sharded_generate_tokens_exact(cases, model, mesh, mode):
    result = get(cases, f"generate/{model}/{mesh}/{mode}")
    assert result["distinct_new"] >= 5                   # not one repeated token
    assert result["equal"], (result["got"], result["ref"])


# Expected shard shapes, from the tiny sizes in sharding_cases.build and the
# rule table: BERT hidden 48, 6 heads (never whole heads on 4 or 8 devices),
# intermediate 64, vocab 300 (divides by 4, not 8); GPT-2 hidden 32, 4 heads,
# inner 40, vocab 48; BART d_model 16, 4 heads, encoder ffn 37, vocab 64;
# T5 d_model 16, 4 heads x d_kv 6, d_ff 32, vocab 64.
SHARDS = {
    ("bert", "2x4"): {"attention": [48, 48], "attention_out": [48, 48], "ffn_in": [48, 16], "ffn_in_bias": [16],
                      "ffn_out": [16, 48], "embedding": [75, 48], "norm": [48]},
    ("bert", "1x8"): {"attention": [48, 48], "ffn_in": [48, 8], "ffn_out": [8, 48], "embedding": [300, 48]},
    ("bert", "8x1"): {"attention": [48, 48], "ffn_in": [48, 64], "embedding": [300, 48]},
    ("gpt2", "2x4"): {"attention": [32, 24], "attention_out": [8, 32], "ffn_in": [32, 10], "ffn_out": [10, 32],
                      "embedding": [12, 32], "lm_head": [32, 12]},
    ("gpt2", "1x8"): {"attention": [32, 96], "attention_out": [32, 32], "ffn_in": [32, 5], "lm_head": [32, 6]},
    ("gpt2", "8x1"): {"attention": [32, 96], "ffn_in": [32, 40], "lm_head": [32, 48]},
    ("bart", "2x4"): {"attention": [16, 4], "cross_attention": [16, 4], "ffn_in": [16, 37], "embedding": [16, 16]},
    ("bart", "1x8"): {"attention": [16, 16], "ffn_in": [16, 37], "embedding": [8, 16]},
    ("bart", "8x1"): {"attention": [16, 16], "embedding": [64, 16]},
    ("t5", "2x4"): {"attention": [16, 6], "attention_out": [6, 16], "ffn_in": [16, 8], "ffn_out": [8, 16],
                    "relative_bias": [8, 4], "lm_head": [16, 16]},
}


@pytest.mark.parametrize("model,mesh", sorted(SHARDS))
def test_parameters_are_split(cases, model, mesh):
    leaves = get(cases, f"placement/{model}/{mesh}")["leaves"]
    for label, shard in SHARDS[model, mesh].items():
        assert leaves[label]["shard"] == shard, (label, leaves[label])
        assert leaves[label]["devices"] == 8, (label, leaves[label])


def test_shard_batch_replicates_a_batch_that_does_not_divide(cases):
    result = get(cases, "shard_batch")
    assert result["even"] == ["data", None] and result["odd"] == [None, None]


def test_pipeline_with_mesh_equals_unsharded(cases):
    result = get(cases, "pipeline/text-classification/2x4")
    assert result["top_score_spread"] > 0.05            # scores differ between texts
    assert result["labels_equal"] and result["max_diff"] <= TOL
