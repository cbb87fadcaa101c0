"""jaxnlp.native: the CPU kernel on pre-arranged weights.

The kernel's products are checked against float64 numpy (every build this
machine can run: -march=native and two older x86-64 levels, whose vector
widths differ); `generate` is checked to give the same tokens with it as
with XLA's dot (the parity tests under tests/generation compare those
tokens with transformers, and run with the kernel on, its default); small
forward calls are checked against transformers and against XLA's dot (the
model parity tests under tests/models run with it too: their inputs are
under MAX_ROWS rows); and every way it can be unavailable falls
back to XLA's dot with a reason."""

from __future__ import annotations

import ctypes
import platform

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxnlp
from jaxnlp import native
from support.tiny import make_model, padded_batch, rel_error, save_safetensors, torch_outputs
from support.tiny_lm import make_lm
from support.tiny_seq2seq import make_seq2seq

SHAPES = [  # (leading dims, K, N): partial row tiles (5, 13, 40 rows), N not a multiple of any tile
    ((1,), 16, 48), ((5,), 7, 20), ((8,), 96, 144), ((13,), 33, 100), ((32,), 64, 1),
    ((2, 3), 16, 37), ((40,), 24, 50), ((1, 1), 1, 5),
]


def _check_products(call, tile):
    rng = np.random.default_rng(0)
    for lead, k, n in SHAPES:
        x = rng.standard_normal((*lead, k)).astype(np.float32)
        w = rng.standard_normal((k, n)).astype(np.float32)
        packed = native.pack(w, tile)
        assert packed.shape == (-(-n // tile), k, tile)
        got = np.asarray(jax.jit(call, static_argnums=2)(jnp.asarray(x), packed, n))
        want = x.astype(np.float64) @ w.astype(np.float64)
        assert got.shape == (*lead, n)
        # float32 sums of k products of unit normals: error ~ sqrt(k) * 1e-7 * |terms|
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(k))


def test_products_match_float64():
    assert native.usable(), native.status()
    assert native.tile_width() in (12, 24, 48)
    _check_products(native.packed_matmul, native.tile_width())


@pytest.mark.parametrize("march, tile", [("x86-64-v3", 24), ("x86-64", 12)])
def test_older_instruction_sets(march, tile):
    # the same source for AVX2 and for plain SSE2 machines (8- and 4-float vectors)
    assert platform.machine() in ("x86_64", "AMD64"), "this suite runs on x86-64"
    lib = ctypes.CDLL(str(native._build(march)))
    assert lib.jaxnlp_packed_tile_width() == tile
    target = f"jaxnlp_packed_matmul_{march.replace('-', '_')}"
    jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(lib.JaxnlpPackedMatmul), platform="cpu")
    _check_products(lambda x, p, n: native.packed_matmul(x, p, n, target=target), tile)


def test_mismatched_packed_kernel_is_an_error():
    x = jnp.ones((2, 16), jnp.float32)
    wrong_k = native.pack(np.ones((8, 48), np.float32))
    with pytest.raises(Exception, match="do not match a packed kernel"):
        jax.block_until_ready(native.packed_matmul(x, wrong_k, 48))
    with pytest.raises(Exception, match="do not match a packed kernel"):       # more columns than the tiles hold
        jax.block_until_ready(native.packed_matmul(x, native.pack(np.ones((16, 48), np.float32)), 49))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("native")
    out = {}
    lm = make_lm("gpt2")
    lm.save_pretrained(root / "gpt2")
    out["gpt2"] = jaxnlp.load_model(root / "gpt2", task="causal-lm")
    # drawn as tests/generation/test_generate_seq2seq.py draws them, so that rows differ
    # (and "bart-tied" / "t5-tied": their LM heads are the token embeddings, jaxnlp.native.tied_head)
    for name, case, kwargs, head in (("bart", "bart-untied", dict(init_std=0.2, scale_embedding=False), 5.0),
                                     ("t5", "t5-v1_1", dict(num_decoder_layers=2, initializer_factor=0.7), 3.0),
                                     ("bart-tied", "bart", dict(init_std=0.2, scale_embedding=False), 5.0),
                                     ("t5-tied", "t5", dict(num_decoder_layers=2, initializer_factor=8.0), 3.0)):
        hf = make_seq2seq(case, seed=7, **kwargs)
        with torch.no_grad():
            hf.lm_head.weight.mul_(head)
        hf.save_pretrained(root / name)
        out[name] = jaxnlp.load_model(root / name, task="seq2seq-lm")
    return out


@pytest.fixture()
def switch():
    was = native._enabled
    yield native.enable
    native.enable(was)


CASES = [dict(), dict(num_beams=3), dict(do_sample=True, top_k=5)]


@pytest.mark.parametrize("name", ["gpt2", "bart", "t5", "bart-tied", "t5-tied"])
def test_generate_is_the_same_with_the_kernel(tiny, switch, name):
    model = tiny[name]
    rng = np.random.default_rng(1)
    ids = rng.integers(3, 40, (3, 6))
    kw = dict(max_new_tokens=8, min_new_tokens=8)
    if name.startswith("t5"):
        kw["decoder_start_token_id"] = 0
    for options in CASES:
        outs = {}
        for on in (False, True):
            switch(on)
            outs[on] = jaxnlp.generate(model, ids, rng=jax.random.PRNGKey(3), return_scores=True, **kw, **options)
        np.testing.assert_array_equal(outs[True][0], outs[False][0])
        np.testing.assert_allclose(outs[True][1], outs[False][1], rtol=1e-5, atol=1e-5)
        assert len({tuple(r) for r in outs[True][0][:, -8:]}) > 1       # rows differ: not a degenerate model
    held = model.__dict__["_native_packed"]
    packed = {k: held.arrays[k] for sig, keys in held.keys.items() if sig[0] != "forward" for k in keys}
    # the decoder's products, not the encoder's (seq2seq) nor the cross-attention keys/values (computed once)
    assert packed and not any("encoder" in k.split("/") for k in packed), sorted(packed)
    assert not any(k.endswith(("encoder_attn/key", "encoder_attn/value", "cross_attn/key", "cross_attn/value"))
                   for k in packed), sorted(packed)
    assert any(k.endswith(("fc1", "c_fc", "ff/wi_0", "ff/wi")) for k in packed), sorted(packed)
    heads = [k for k in packed if k.endswith(native.HEAD)]
    assert len(heads) == (1 if name.endswith("-tied") else 0), sorted(packed)      # untied heads are Dense
    for key, p in packed.items():
        assert p.ndim == 3 and p.shape[2] == native.tile_width(), key
    if heads:                                   # the table transposed: [D, V] in tiles of V
        vocab = model.config.get("vocab_size")
        assert packed[heads[0]].shape[0] == -(-vocab // native.tile_width())


def test_packed_copy_is_kept_per_params(tiny, switch):
    switch(True)
    model = tiny["gpt2"]
    ids = np.array([[5, 6, 7]])
    jaxnlp.generate(model, ids, max_new_tokens=2)
    first = model.__dict__["_native_packed"]
    arrays = dict(first.arrays)
    jaxnlp.generate(model, ids, max_new_tokens=2)
    assert model.__dict__["_native_packed"] is first              # built once
    assert all(first.arrays[k] is v for k, v in arrays.items())
    old = model.params
    try:
        model.params = jax.tree_util.tree_map(lambda a: a * 1.0, old)   # new params object: packed again
        jaxnlp.generate(model, ids, max_new_tokens=2)
        assert model.__dict__["_native_packed"].params is model.params
    finally:
        model.params = old


def test_xla_dot_where_the_kernel_does_not_apply(tiny, switch, tmp_path):
    model = tiny["gpt2"]
    switch(False)
    assert native.status().startswith("off") and native.kernels_for(model, lambda rec: None) is None
    switch(True)

    class Sharded:
        mesh = object()
        params = model.params
    assert native.kernels_for(Sharded(), lambda rec: pytest.fail("traced")) is None
    bf16 = jaxnlp.load_model(model.model_dir, task="causal-lm", param_dtype="bfloat16")
    jaxnlp.generate(bf16, np.array([[5, 6, 7]]), max_new_tokens=2)
    assert bf16.__dict__["_native_packed"].arrays == {}          # only float32 kernels are packed
    bf16(np.array([[5, 6, 7]]))
    assert bf16.__dict__["_native_packed"].arrays == {}


@pytest.fixture()
def fresh_state(monkeypatch, tmp_path):
    """An empty build state and cache directory (the registered target stays)."""
    saved = dict(native._state)
    native._state.clear()
    monkeypatch.setenv("JAXNLP_CACHE_DIR", str(tmp_path))
    yield
    native._state.clear()
    native._state.update(saved)


@pytest.mark.parametrize("how", ["no compiler", "build error"])
def test_unavailable_kernel_falls_back(tiny, switch, fresh_state, monkeypatch, tmp_path, how):
    switch(True)
    if how == "no compiler":
        monkeypatch.setattr(native, "_compiler", lambda: None)
        reason = "no C++ compiler"
    else:
        bad = tmp_path / "bad.cc"
        bad.write_text("this is not C++\n")
        monkeypatch.setattr(native, "SOURCE", bad)
        reason = "failed"
    assert not native.usable()
    assert native.status().startswith("unavailable (RuntimeError") and reason in native.status()
    model = tiny["bart"]
    held = model.__dict__.pop("_native_packed", None)
    try:
        out = jaxnlp.generate(model, np.array([[5, 6, 7, 8]]), max_new_tokens=4, min_new_tokens=4)
        assert model.__dict__.get("_native_packed") is None
        with pytest.raises(RuntimeError, match="unavailable"):
            native.tile_width()
    finally:
        if held is not None:
            model.__dict__["_native_packed"] = held
    assert out.shape == (1, 5)


# ---- forward calls of at most MAX_ROWS rows (Model.__call__, so every pipeline) ----

def _forward_keys(model) -> list[str]:
    held = model.__dict__.get("_native_packed")
    return [] if held is None else sorted({k for sig, keys in held.keys.items() if sig[0] == "forward" for k in keys})


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    root = tmp_path_factory.mktemp("native-forward")
    out = {}
    for model_type, task in (("bert", "sequence-classification"), ("distilbert", "question-answering"),
                             ("roberta", "masked-lm")):
        hf = make_model(model_type, task)
        save_safetensors(hf, root / model_type)
        out[model_type] = (hf, task, jaxnlp.load_model(root / model_type, task=task))
    return out


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "roberta"])
def test_small_forward_runs_the_kernel_and_matches_transformers(encoders, switch, model_type):
    hf, task, model = encoders[model_type]
    batch = padded_batch(model_type)           # 3 x 11 = 33 rows
    switch(True)
    ours = model(**batch)
    keys = _forward_keys(model)
    # both layers' attention and feed-forward products, and the task head
    assert len([k for k in keys if "layer" in k]) >= 12, keys
    if model_type == "roberta":                # the MLM decoder is tied to the word embeddings
        assert any(k.endswith(native.HEAD) for k in keys), keys
    ref = torch_outputs(hf, task, batch)
    switch(False)
    xla = model(**batch)
    for a, b, r in zip(*(o if isinstance(o, tuple) else (o,) for o in (ours, xla, ref))):
        assert rel_error(a, r) < 1e-5
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5 * float(np.max(np.abs(r))))


def test_seq2seq_forward_runs_the_kernel_in_encoder_and_decoder(tiny, switch):
    model = tiny["bart"]
    rng = np.random.default_rng(2)
    src, tgt = rng.integers(3, 40, (2, 9)), rng.integers(3, 40, (2, 5))
    switch(True)
    ours = model(src, decoder_input_ids=tgt)
    keys = _forward_keys(model)
    assert any("encoder" in k.split("/") for k in keys) and any("decoder" in k.split("/") for k in keys), keys
    switch(False)
    want = model(src, decoder_input_ids=tgt)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(want), rtol=1e-5,
                               atol=1e-5 * float(np.max(np.abs(want))))


def test_forward_row_limit(encoders, switch, monkeypatch):
    _, _, model = encoders["bert"]
    model.__dict__.pop("_native_packed", None)
    switch(True)
    monkeypatch.setattr(native, "MAX_ROWS", 20)
    batch = padded_batch("bert")
    model(**batch)                                         # 33 rows: XLA's dot, nothing packed or recorded
    assert _forward_keys(model) == []
    model(batch["input_ids"][:1])                            # 11 rows: the kernel
    assert _forward_keys(model)


def test_decode_only_mode(tiny, switch, monkeypatch):
    model = tiny["gpt2"]
    model.__dict__.pop("_native_packed", None)
    switch("decode")
    assert "decoding steps only" in native.status() and native.usable() and not native.usable(forward=True)
    model(np.array([[5, 6, 7]]))
    assert _forward_keys(model) == []
    jaxnlp.generate(model, np.array([[5, 6, 7]]), max_new_tokens=2)
    assert model.__dict__["_native_packed"].arrays           # decoding steps still use it
    with pytest.raises(ValueError, match="not True, False or 'decode'"):
        native.enable("sometimes")
    for value, mode in (("0", "off"), ("off", "off"), ("1", "all"), ("decode", "decode"), ("", "all")):
        assert native._mode(value) == mode
