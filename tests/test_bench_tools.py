"""bench/run.py's bookkeeping (no benchmark runs here): alternating rounds
pool their calls, and the host a result came from is recorded."""

from __future__ import annotations

import importlib
import statistics
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture()
def bench_run(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("run", "_common"):
        sys.modules.pop(name, None)
    module = importlib.import_module("run")
    yield module
    for name in ("run", "_common"):
        sys.modules.pop(name, None)


def _fake_worker(times_by_call, tokens_by_call=None):
    """A stand-in for run_script: the n-th call returns one generate case whose
    steady-state calls took times_by_call[n]."""
    calls = []

    def fake(script, spec, python=None, env=None, timeout=None):
        n = len(calls)
        calls.append(spec["framework"])
        tokens = None if tokens_by_call is None else tokens_by_call[n]
        times = list(times_by_call[n])
        case = dict(batch=1, mode="greedy", first_call_s=10.0 + n, times=times, s=statistics.median(times),
                    spread=[min(times), max(times)], tokens=tokens)
        return dict(cases=[case], load_s=1.0 + n, peak_rss_mb=100.0 + n, rss_after_import_mb=50.0,
                    peak_device_mb=None, device="cpu", counts={})

    return fake, calls


def test_rounds_alternate_and_pool_every_call(bench_run, monkeypatch):
    # call order j, t, j, t: jaxnlp's calls are the 1st and 3rd workers', PyTorch's the 2nd and 4th
    fake, calls = _fake_worker([[1.0, 5.0, 3.0], [10.0, 12.0, 11.0], [2.0, 4.0, 6.0], [20.0, 13.0, 14.0]])
    monkeypatch.setattr(bench_run, "run_script", fake)
    sides = bench_run._alternate(dict(model="m", suite="generate"), rounds=2)
    assert calls == ["jaxnlp", "torch", "jaxnlp", "torch"]
    j, t = sides["jaxnlp"]["cases"][0], sides["torch"]["cases"][0]
    assert j["s"] == statistics.median([1.0, 5.0, 3.0, 2.0, 4.0, 6.0]) == 3.5
    assert j["spread"] == [1.0, 6.0] and j["calls"] == 6
    assert t["s"] == statistics.median([10.0, 12.0, 11.0, 20.0, 13.0, 14.0]) == 12.5
    assert t["spread"] == [10.0, 20.0]
    # first call, load time and memory: the first round's (fresh process) figures
    assert j["first_call_s"] == 10.0 and t["first_call_s"] == 11.0
    assert sides["jaxnlp"]["load_s"] == 1.0 and sides["torch"]["peak_rss_mb"] == 101.0
    assert "times" not in j and "times" not in t


def test_one_round_keeps_the_worker_figures(bench_run, monkeypatch):
    fake, calls = _fake_worker([[1.0, 2.0, 9.0], [4.0, 4.0, 5.0]])
    monkeypatch.setattr(bench_run, "run_script", fake)
    sides = bench_run._alternate(dict(model="m", suite="generate"), rounds=1)
    assert calls == ["jaxnlp", "torch"]
    assert sides["jaxnlp"]["cases"][0]["s"] == 2.0 and sides["jaxnlp"]["cases"][0]["spread"] == [1.0, 9.0]


def test_rounds_that_disagree_on_tokens_stop_the_run(bench_run, monkeypatch):
    fake, _ = _fake_worker([[1.0]] * 4, tokens_by_call=[[[1, 2]], [[1, 2]], [[1, 3]], [[1, 2]]])
    monkeypatch.setattr(bench_run, "run_script", fake)
    with pytest.raises(RuntimeError, match="tokens differ between rounds"):
        bench_run._alternate(dict(model="m", suite="generate"), rounds=2)


def test_rounds_below_one_are_refused(bench_run):
    with pytest.raises(SystemExit, match="--rounds must be at least 1"):
        bench_run.main(["--rounds", "0", "--suite", "forward"])


def test_host_info_names_the_cpu(bench_run):
    common = sys.modules["_common"]
    host = common.host_info()
    assert host["logical_cpus"] >= 1
    assert isinstance(host["cpu"], str) and host["cpu"]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        first = cpuinfo.read_text().split("\n\n")[0]
        names = [line.split(":", 1)[1].strip() for line in first.splitlines() if line.startswith("model name")]
        if names:
            assert host["cpu"] == names[0]
        flags = [line.split(":", 1)[1].split() for line in first.splitlines() if line.startswith("flags")]
        if flags:
            assert host["isa"] == [f for f in common.ISA_FLAGS if f in flags[0]]
    line = common.host_line(host)
    assert line.startswith("Host CPU: ") and f"{host['logical_cpus']} logical CPUs" in line
    assert common.host_line(None) == ""


def test_small_gemm_kernel_matches_a_double_precision_loop(tmp_path, monkeypatch):
    # bench/small_gemm.py's C kernel, both weight layouts: row counts that fill
    # 8-row tiles (8, 32) and leave a partial one (1, 5); K = 96 spans three
    # 32-row blocks; F = 144 is three 48-column tiles, F = 80 one and a 32-column
    # tail. The binary checks one product per layout against a plain
    # double-precision triple loop and reports the largest difference.
    import json
    import subprocess

    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("small_gemm", None)
    small_gemm = importlib.import_module("small_gemm")
    exe = small_gemm.compile_kernel(str(tmp_path))
    for rows, f in ((1, 144), (5, 144), (8, 80), (32, 144), (32, 80)):
        res = subprocess.run([exe, str(rows), "96", str(f), "2", "1"], capture_output=True, text=True, check=True)
        got = {r["layout"]: r for r in map(json.loads, res.stdout.splitlines())}
        assert set(got) == {"standard", "packed"}
        for r in got.values():
            # 96-term sums of products of values in [-0.5, 0.5]: float32 rounding stays far below 1e-4
            assert r["max_abs_err"] < 1e-4 and r["ms"] > 0
    bad = subprocess.run([exe, "33", "96", "144", "1", "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "M <= 32" in bad.stderr
    bad = subprocess.run([exe, "8", "96", "40", "1", "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "multiples of 16" in bad.stderr


def test_ab_generate_xla_flags_switch_needs_flags():
    import subprocess

    res = subprocess.run([sys.executable, str(BENCH / "ab_generate.py"), "--switch", "xla-flags"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "--switch xla-flags needs --flags" in res.stderr


@pytest.fixture()
def bench_pipelines(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("pipelines", "roofline", "table", "_common"):
        sys.modules.pop(name, None)
    yield importlib.import_module("pipelines")
    for name in ("pipelines", "roofline", "table", "_common"):
        sys.modules.pop(name, None)


# a 2-layer encoder of 100 Dense weights, attention width 4: roofline.forward_cost
# gives 2 * 100 * tokens + 4 * 2 * batch * seq^2 * 4 FLOPs
COUNTS = dict(encoder=100, decoder=0, cross_kv=0, embedding=10, lm_head=0, total=110, vocab=5, hidden=4, width=4,
              decoder_layers=None, encoder_layers=2)


def test_pipeline_flops_count_items_at_their_length_and_calls_at_their_padded_shape(bench_pipelines):
    # one call: 2 item rows of 3 and 5 tokens padded to 4 rows x 8 positions
    useful, computed = bench_pipelines.flops_of(COUNTS, [[4, 8, [3, 5]]])
    assert useful == (200 * 3 + 32 * 3**2) + (200 * 5 + 32 * 5**2)       # 2688
    assert computed == 2 * 100 * 4 * 8 + 4 * 2 * 4 * 8**2 * 4           # 6400 + 8192


def test_jaxnlp_calls_are_recorded_from_pad_batch_and_the_method_restored(bench_pipelines):
    import numpy as np

    class FakePipe:   # pads 3 rows to a batch bucket of 4 (a copy of the last row), as Pipeline.pad_batch
        def pad_batch(self, arrays):
            n = arrays["input_ids"].shape[0]
            return {k: np.concatenate([v, v[-1:]]) for k, v in arrays.items()}, n

    pipe, calls = FakePipe(), []
    mask = np.array([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    with bench_pipelines.record_calls("ner", "jaxnlp", pipe, calls):
        padded, n = pipe.pad_batch({"input_ids": np.zeros((3, 6), np.int32), "attention_mask": mask})
    assert (padded["input_ids"].shape, n) == ((4, 6), 3)
    assert calls == [[4, 6, [2, 6, 3]]]      # the copied 4th row carries no item
    assert "pad_batch" not in vars(pipe)
    with bench_pipelines.record_calls("summarization", "jaxnlp", pipe, calls):   # generating tasks: nothing
        pipe.pad_batch({"input_ids": np.zeros((1, 6), np.int32), "attention_mask": mask[:1]})
    assert len(calls) == 1


def test_torch_calls_are_recorded_by_a_pre_hook(bench_pipelines):
    import torch

    class Pipe:
        model = None

    class Model(torch.nn.Module):
        def forward(self, input_ids=None, attention_mask=None):
            return input_ids

    pipe, calls = Pipe(), []
    pipe.model = Model()
    with bench_pipelines.record_calls("sentiment", "torch", pipe, calls):
        pipe.model(input_ids=torch.zeros(2, 5, dtype=torch.long),
                   attention_mask=torch.tensor([[1] * 5, [1, 1, 0, 0, 0]]))
    pipe.model(input_ids=torch.zeros(1, 5, dtype=torch.long))   # hook removed: not recorded
    assert calls == [[2, 5, [5, 2]]]


def test_pipeline_table_has_the_flop_columns(bench_run, monkeypatch):
    import table

    side = dict(items=4, items_per_s=2.0, first_call_s=1.0, device="cpu", peak_rss_mb=10.0, peak_device_mb=None)
    row = dict(task="ner", model="bert-base", jaxnlp=dict(side, computed_flops=3e9),
               torch=dict(side, items_per_s=1.0, computed_flops=2e9), speedup=2.0, same_output=True,
               useful_flops=2e9)
    cost = dict(flops=2e9)
    bench_run._set_floor(row, cost, "pipeline", dict(matmul_gflops=2.0))
    assert row["floor_s"] == 1.0
    assert row["jaxnlp"]["useful_gflops"] == 1.0 and row["jaxnlp"]["over_floor"] == 2.0   # 4 items at 2/s: 2 s
    assert row["torch"]["over_floor"] == 4.0
    text = table.run_tables(dict(device="cpu", device_kind="cpu", dtype="float32", torch_device="cpu", quick=False,
                                 versions=dict(jax="x", torch="y", transformers="z"), config=dict(repeats=3),
                                 suites={"pipelines": [row]}))
    line = next(l for l in text.splitlines() if l.startswith("| ner"))
    assert line.count("|") == 15
    assert "| 1.0 / 0.5 | 2.00x | 4.00x | 1.50 / 1.00 |" in line


def test_torch_conversation_batches_give_each_text_its_unbatched_dialogpt_response(bench_pipelines, tmp_path):
    """bench's PyTorch side of `conversation` (transformers has no such pipeline):
    three texts of different lengths in batches of 2 (so left padding in the
    first batch) give what transformers' generate gives each one alone on
    DialoGPT's input, its ids followed by eos; the response is the new ids up
    to eos, decoded. The jaxnlp pipeline agrees on the same checkpoint."""
    import torch

    import jaxnlp
    from jaxnlp.pipelines.conversation import ConversationManager
    from support.gen_pipelines import gpt2_checkpoint

    directory, model, tok = gpt2_checkpoint(tmp_path / "gpt2")
    texts = ["hello there", "what is the weather like in the north today", "fine"]
    options = dict(max_new_tokens=6, min_new_tokens=6)
    eos = tok.eos_token_id
    expected = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False) + [eos]
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 pad_token_id=eos, do_sample=False, **options)
        new = out[0, len(ids):].tolist()
        expected.append(tok.decode(new[:new.index(eos)] if eos in new else new, skip_special_tokens=True))
    assert len(set(expected)) == 3          # the responses differ, so a mixed-up row would show
    side = bench_pipelines.TorchConversation(str(directory), "cpu", 2, dtype=torch.float32)
    assert side(texts, **options) == expected
    manager = ConversationManager()
    for text in texts:
        manager.create(text)
    chat = jaxnlp.pipeline("conversation", model=str(directory), batch_size=2)
    assert list(chat(manager, **options).values()) == expected
