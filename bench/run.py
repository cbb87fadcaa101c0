"""Every benchmark in one command: jaxnlp beside transformers (PyTorch) on the
same random checkpoints of real sizes, with the machine's physical limits.

    .venv/bin/python bench/run.py                      # everything (~20 min on the 2-core CPU)
    .venv/bin/python bench/run.py --quick              # tiny models, a smoke run (~3-5 min)
    .venv/bin/python bench/run.py --suite generate --models gpt2 --repeats 5
    .venv/bin/python bench/run.py --dtype bfloat16     # on a GPU (scripts/gpu_bench.sh)
    .venv/bin/python bench/run.py --suite forward,generate --peers flax   # + transformers 4.46 Flax

Suites (`--suite a,b`; default all):
- roofline: this machine's matmul peak and memory bandwidth (bench/roofline.py).
- load: files -> first result in fresh processes (bench/load.py): jaxnlp from
  the HF directory, from the converted format, reusing the persistent
  compilation cache (`--compile-cache DIR`, default a temp dir), and
  transformers from_pretrained + first call; bert-base forward and gpt2
  greedy generation.
- forward: the backbone's forward (bert-base, distilbert, gpt2) at batch 1
  and 8 x 128 tokens.
- generate: greedy, beam 4 and sampling (top_k 50) at batch 1 and 8, 32-token
  prompts/sources, 32 new tokens, eos unset (gpt2, bart-base, t5-small,
  marian); tokens compared for greedy and beam.
- pipelines: items/s of the pipelines (bench/pipelines.py).

`--peers flax` (off by default) adds a second peer to forward and generate:
the transformers 4.46 Flax models (bench/flax_peer.py, run by .venvflax's
Python, built by scripts/setup_flax446.sh), same checkpoints, same inputs,
timed under jax.jit; rows gain flax_s, flax_spread, flax_first_call_s,
speedup_vs_flax (Flax / jaxnlp) and same_tokens_flax (vs PyTorch's tokens).

Each (suite, model, framework) runs in its own fresh process, one after the
other, so peak memory is that framework's alone: host peak RSS on CPU, the
allocator's peak on a GPU. Per case: the first call (jaxnlp: compile + run;
PyTorch: its warm-up) apart, then the median and min/max of `--repeats`
steady calls; the speedup is PyTorch's median / jaxnlp's, from the same run.

Writes bench/results/<device>[_<dtype>][_quick].json, a markdown table beside
it (.md, bench/table.py) and PNG plots (bench/plots.py, matplotlib).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, host_line, host_peak_rss_mb, run_fresh, run_script, time_calls  # noqa: E402

SUITES = ["roofline", "load", "forward", "generate", "pipelines"]
FORWARD_MODELS = ["bert-base", "distilbert", "gpt2"]
GENERATE_MODELS = ["gpt2", "bart-base", "t5-small", "marian"]
MODES = ["greedy", "beam4", "sample"]
PEERS = ["flax"]
FLAX_PYTHON = Path(__file__).resolve().parents[1] / ".venvflax" / "bin" / "python"
FULL = dict(forward_cases=[(1, 128), (8, 128)], generate_cases=[(b, m) for m in MODES for b in (1, 8)], prompt=32, new=32, repeats=3, load_repeats=3,
            pipeline_repeats=2)
QUICK = dict(forward_cases=[(2, 32)], generate_cases=[(1, "greedy"), (4, "beam4"), (4, "sample")], prompt=8, new=8, repeats=2, load_repeats=1,
             pipeline_repeats=1)


# -- workers (one framework, one model, in a fresh process) ------------------------------------

def worker(spec: dict) -> dict:
    if spec["framework"] == "jaxnlp":
        import jax  # noqa: F401  (imported before the clock starts, as torch is)
    else:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    base_rss = host_peak_rss_mb()
    t0 = time.perf_counter()
    model = _load(spec)
    load_s = time.perf_counter() - t0
    run_case = _forward_case if spec["suite"] == "forward" else _generate_case
    cases = [run_case(model, spec, case) for case in spec["cases"]]
    out = dict(load_s=load_s, cases=cases, rss_after_import_mb=base_rss, peak_rss_mb=host_peak_rss_mb())
    if spec["framework"] == "jaxnlp":
        from _common import jax_peak_mb
        from roofline import param_counts

        out.update(peak_device_mb=jax_peak_mb(), counts=param_counts(model.params, model.config),
                   device=str(__import__("jax").devices()[0]))
    else:
        from _common import torch_peak_mb

        out.update(peak_device_mb=torch_peak_mb(), device=str(next(model.parameters()).device))
    return out


def _load(spec: dict):
    task = {"forward": "base", "generate": "causal-lm" if spec["model"] == "gpt2" else "seq2seq-lm"}[spec["suite"]]
    if spec["framework"] == "jaxnlp":
        import jax
        import jaxnlp

        m = jaxnlp.load_model(spec["dir"], task=task, dtype=spec["dtype"], param_dtype=spec["dtype"])
        jax.block_until_ready(m.params)
        return m
    import torch
    import transformers as T

    torch.set_grad_enabled(False)
    cls = {"base": T.AutoModel, "causal-lm": T.AutoModelForCausalLM, "seq2seq-lm": T.AutoModelForSeq2SeqLM}[task]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    m = cls.from_pretrained(spec["dir"], dtype=getattr(torch, spec["dtype"])).eval().to(dev)
    if dev == "cuda":
        torch.cuda.synchronize()
    return m


def forward_inputs(batch: int, seq: int):
    """The forward suite's input ids (int64; the attention mask is all ones), shared with bench/flax_peer.py."""
    import numpy as np

    return np.random.default_rng(0).integers(5, 1000, (batch, seq)).astype(np.int64)


def generate_inputs(spec: dict, case) -> tuple:
    """(ids, mask, generate options) of one generate case, shared with bench/flax_peer.py."""
    import generate as G

    batch, mode = case
    ids, mask = G.prompts(batch, spec["prompt"], spec["vocab"], spec["pad"], left=spec["model"] == "gpt2")
    opts = dict(do_sample=True, top_k=50, max_new_tokens=spec["new"]) if mode == "sample" else G.options(
        mode, spec["new"])
    return ids, mask, opts


def _timed(fn, repeats: int) -> dict:
    t = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t
    times = time_calls(fn, repeats)
    return dict(result=result, first_call_s=first, times=times,
                **{"s": statistics.median(times), "spread": [min(times), max(times)]})


def _packed_mb(model) -> float:
    """MB of jaxnlp.native's packed kernel copies the model holds (0: none)."""
    held = model.__dict__.get("_native_packed")
    return held.nbytes() / 1e6 if held is not None else 0.0


def _forward_case(model, spec: dict, case) -> dict:
    import numpy as np

    batch, seq = case
    ids = forward_inputs(batch, seq)
    if spec["framework"] == "jaxnlp":
        import jax

        fn = lambda: jax.block_until_ready(model(input_ids=ids, attention_mask=np.ones_like(ids)))  # noqa: E731
    else:
        import torch

        dev = next(model.parameters()).device
        tids = torch.from_numpy(ids).to(dev)

        def fn():
            model(input_ids=tids, attention_mask=torch.ones_like(tids))
            if dev.type == "cuda":
                torch.cuda.synchronize()
    out = _timed(fn, spec["repeats"])
    out.pop("result")
    if spec["framework"] == "jaxnlp":
        out["native_packed_mb"] = _packed_mb(model)
    if spec.get("xla_flops") and spec["framework"] == "jaxnlp":
        from roofline import xla_flops

        out["xla_flops"] = xla_flops(model, {"input_ids": np.asarray(ids, np.int32),
                                             "attention_mask": np.ones(ids.shape, np.int32)})
    return dict(batch=batch, seq=seq, **out)


def _generate_case(model, spec: dict, case) -> dict:
    batch, mode = case
    ids, mask, opts = generate_inputs(spec, case)
    if spec["framework"] == "jaxnlp":
        import jaxnlp

        fn = lambda: jaxnlp.generate(model, ids, mask, **opts)  # noqa: E731
    else:
        import torch

        dev = next(model.parameters()).device
        tids, tmask = torch.from_numpy(ids).to(dev), torch.from_numpy(mask).to(dev)

        def fn():
            torch.manual_seed(0)
            out = model.generate(tids, attention_mask=tmask, **opts)
            return out.cpu().numpy()
    out = _timed(fn, spec["repeats"])
    tokens = out.pop("result")
    if spec["framework"] == "jaxnlp":
        out["native_packed_mb"] = _packed_mb(model)
    return dict(batch=batch, mode=mode, prompt=spec["prompt"], new=spec["new"],
                tokens=None if mode == "sample" else tokens.tolist(), **out)


# -- suites ---------------------------------------------------------------------------------

def _alternate(spec: dict, rounds: int) -> dict:
    """The jaxnlp and the PyTorch worker, `rounds` times in alternation (j, t,
    j, t, ...), each a fresh process. A shared VM's speed drifts by 10-20%
    within minutes; one worker per side measures each side in its own stretch
    of that drift, alternating rounds spread both over the same stretches.
    Per case, steady state is the median of every round's calls (min-max over
    all of them); first call, load time and memory come from the first round."""
    runs = {"jaxnlp": [], "torch": []}
    for _ in range(rounds):
        for fw in runs:
            runs[fw].append(run_script(Path(__file__), {**spec, "framework": fw}))
    sides = {}
    for fw, results in runs.items():
        first = results[0]
        for case, *others in zip(first["cases"], *(r["cases"] for r in results[1:])):
            times = [t for c in (case, *others) for t in c["times"]]
            del case["times"]
            case.update(s=statistics.median(times), spread=[min(times), max(times)], calls=len(times))
            if case.get("tokens") is not None and any(c.get("tokens") != case["tokens"] for c in others):
                raise RuntimeError(f"{spec['model']} {fw}: tokens differ between rounds (case {case.get('mode')})")
        sides[fw] = first
    return sides


def both_sides(spec: dict, peers: tuple = (), log=print, rounds: int = 1) -> dict:
    """Run the jaxnlp and the PyTorch worker for one model (`rounds` pairs in
    alternation, `_alternate`) and the Flax peer (bench/flax_peer.py under
    .venvflax, once) if `peers` has "flax"; pair their cases."""
    sides = _alternate(spec, rounds)
    flax, flax_error = None, None
    if "flax" in peers:
        try:
            flax = run_script(Path(__file__).with_name("flax_peer.py"), {**spec, "framework": "flax"},
                              python=str(FLAX_PYTHON))
        except RuntimeError as e:   # an optional peer: its failure is recorded, the run goes on
            flax_error = str(e).strip().splitlines()[-1][:500]
            log(f"flax peer failed for {spec['suite']} {spec['model']}: {flax_error}")
    rows = []
    for i, (j, t) in enumerate(zip(sides["jaxnlp"]["cases"], sides["torch"]["cases"])):
        row = {k: v for k, v in j.items() if k not in ("s", "spread", "first_call_s", "tokens", "xla_flops", "calls")}
        row.update(jaxnlp_s=j["s"], jaxnlp_spread=j["spread"], jaxnlp_first_call_s=j["first_call_s"],
                   torch_s=t["s"], torch_spread=t["spread"], torch_first_call_s=t["first_call_s"],
                   speedup=t["s"] / j["s"])
        if "xla_flops" in j:
            row["xla_flops"] = j["xla_flops"]
        if j.get("tokens") is not None:
            row["same_tokens"] = j["tokens"] == t["tokens"]
        if flax is not None:
            _add_flax(row, flax["cases"][i], t)
        rows.append(row)
    if flax is not None:
        sides["flax"] = flax
    memory = {fw: dict(load_s=s["load_s"], peak_rss_mb=s["peak_rss_mb"], rss_after_import_mb=s["rss_after_import_mb"],
                       peak_device_mb=s["peak_device_mb"], device=s["device"]) for fw, s in sides.items()}
    out = dict(model=spec["model"], rows=rows, memory=memory, counts=sides["jaxnlp"]["counts"])
    if flax is not None:
        out["flax"] = dict(cls=flax["flax_class"], versions=flax["versions"])
    if flax_error:
        out["flax_error"] = flax_error
    return out


def _add_flax(row: dict, f: dict, t: dict) -> None:
    """The Flax peer's figures for one case: time, speedup_vs_flax = Flax / jaxnlp, tokens vs PyTorch's."""
    if "unsupported" in f:
        row["flax_unsupported"] = f["unsupported"]
        return
    row.update(flax_s=f["s"], flax_spread=f["spread"], flax_first_call_s=f["first_call_s"],
               speedup_vs_flax=f["s"] / row["jaxnlp_s"])
    if f.get("tokens") is not None and t.get("tokens") is not None:
        row["same_tokens_flax"] = f["tokens"] == t["tokens"]


def _flax_log(r: dict, scale: float = 1.0, unit: str = "s") -> str:
    if "flax_unsupported" in r:
        return f"  flax unsupported ({r['flax_unsupported'][:80]})"
    if "flax_s" not in r:
        return ""
    same = {True: ", same tokens", False: ", TOKENS DIFFER"}.get(r.get("same_tokens_flax"), "")
    return (f"  flax {r['flax_s'] * scale:.{1 if unit == 'ms' else 3}f} {unit} (first {r['flax_first_call_s']:.2f} s, "
            f"{r['speedup_vs_flax']:.2f}x{same})")


def flax_peer_ready(log=print) -> bool:
    """Whether .venvflax exists; if not, say how to make it."""
    if FLAX_PYTHON.exists():
        return True
    log(f"--peers flax: {FLAX_PYTHON} is missing; create it with scripts/setup_flax446.sh "
        "(transformers 4.46.3, jax 0.4.30, flax 0.8.5; ~2 GB). Skipping the Flax peer.")
    return False


# rows with a floor, (row, cost, kind): set again from the run's best peaks at its end
FLOOR_ROWS: list = []


def _set_floor(r: dict, cost: dict, kind: str, peaks: dict) -> None:
    from roofline import forward_floor, generate_floor

    if kind == "pipeline":   # useful FLOPs (each item at its own length) at the matmul peak
        r["floor_s"] = cost["flops"] / (peaks["matmul_gflops"] * 1e9)
        for side in ("jaxnlp", "torch"):
            if side in r:
                seconds = r[side]["items"] / r[side]["items_per_s"]
                r[side].update(useful_gflops=cost["flops"] / seconds / 1e9, over_floor=seconds / r["floor_s"])
        return
    if kind == "forward":
        r.update(achieved_gflops=cost["flops"] / r["jaxnlp_s"] / 1e9, floor_s=forward_floor(cost, peaks))
    else:
        r.update(achieved_gbs=r["decode_bytes"] / r["jaxnlp_s"] / 1e9, floor_s=generate_floor(cost, peaks))
    for side in ("jaxnlp", "torch", "flax"):
        if f"{side}_s" in r:
            r[f"{side}_over_floor"] = r[f"{side}_s"] / r["floor_s"]


def suite_forward(models, cfg, ckpt, args, peaks, log, emit) -> None:
    from checkpoints import checkpoint
    from roofline import forward_cost

    for name in [m for m in models if m in FORWARD_MODELS]:
        spec = dict(suite="forward", model=name, dir=str(checkpoint(name, "base", ckpt, args.quick)),
                    cases=cfg["forward_cases"], repeats=cfg["repeats"], dtype=args.dtype, xla_flops=args.quick)
        res = both_sides(spec, args.peers, log, rounds=cfg["rounds"])
        for r in res["rows"]:
            cost = forward_cost(res["counts"], r["batch"], r["seq"], _bytes(args.dtype))
            r.update(flops=cost["flops"], weight_bytes=cost["bytes"])
            if peaks:
                _set_floor(r, cost, "forward", peaks)
                FLOOR_ROWS.append((r, cost, "forward"))
            log(f"forward {name:10} {r['batch']} x {r['seq']}: jaxnlp {r['jaxnlp_s'] * 1e3:8.1f} ms "
                f"(first {r['jaxnlp_first_call_s']:.2f} s)  torch {r['torch_s'] * 1e3:8.1f} ms  "
                f"speedup {r['speedup']:.2f}x" + (f"  {r['achieved_gflops']:.1f} GFLOP/s, "
                                                  f"{r['jaxnlp_over_floor']:.1f}x floor" if peaks else "")
                + (f"  (XLA counts {r['xla_flops'] / r['flops']:.2f}x the analytic FLOPs)"
                   if r.get("xla_flops") else "") + _flax_log(r, 1e3, "ms"))
        emit(res)


def suite_generate(models, cfg, ckpt, args, peaks, log, emit) -> None:
    import generate as G
    from checkpoints import checkpoint
    from roofline import generate_cost

    for name in [m for m in models if m in GENERATE_MODELS]:
        directory = checkpoint(name, "generate", ckpt, args.quick)
        config = json.loads((directory / "config.json").read_text())
        pad = config.get("pad_token_id") or 0
        spec = dict(suite="generate", model=name, dir=str(directory), cases=cfg["generate_cases"], repeats=cfg["repeats"],
                    dtype=args.dtype, prompt=cfg["prompt"], new=cfg["new"], vocab=config["vocab_size"], pad=pad)
        res = both_sides(spec, args.peers, log, rounds=cfg["rounds"])
        for r in res["rows"]:
            beams = 4 if r["mode"] == "beam4" else 1
            cost = generate_cost(res["counts"], r["batch"], r["prompt"], r["new"], beams, _bytes(args.dtype),
                                 encoder_decoder=name != "gpt2")
            r["decode_bytes"] = sum(cost["step_bytes"])
            if peaks:
                _set_floor(r, cost, "generate", peaks)
                FLOOR_ROWS.append((r, cost, "generate"))
            same = {True: "same tokens", False: "TOKENS DIFFER"}.get(r.get("same_tokens"), "")
            log(f"generate {name:9} batch {r['batch']} {r['mode']:6}: jaxnlp {r['jaxnlp_s']:.3f} s "
                f"(first {r['jaxnlp_first_call_s']:.2f} s)  torch {r['torch_s']:.3f} s  speedup {r['speedup']:.2f}x"
                + (f"  {r['jaxnlp_over_floor']:.1f}x floor" if peaks else "") + f"  {same}" + _flax_log(r))
        emit(res)


def suite_load(models, cfg, ckpt, args, peaks, log, emit) -> None:
    import load
    from checkpoints import checkpoint
    for name, use, gen in (("bert-base", "base", False), ("gpt2", "generate", True)):
        if name not in (args.load_models.split(",") if args.load_models else models):
            continue
        hf = checkpoint(name, use, ckpt, args.quick)
        converted = Path(str(hf) + "-converted")
        if not (converted / ".done").exists():
            shutil.rmtree(converted, ignore_errors=True)
            argv = ["convert", str(hf), str(converted), *(["--task", "causal-lm"] if gen else [])]
            run_fresh(f"from jaxnlp.cli import main; main({argv!r})", env={"JAX_PLATFORMS": "cpu"})
            (converted / ".done").write_text("")
        rows = load.load_rows(hf, converted, repeats=cfg["load_repeats"], generate=gen, dtype=args.dtype,
                              cache_dir=args.compile_cache, log=log)
        what = (f"greedy generate batch 1, {load.PROMPT}-token prompt, {load.NEW} new" if gen
                else f"forward batch {load.BATCH} x {load.SEQ}")
        emit(dict(model=name, what=what, rows=rows))


def suite_pipelines(models, cfg, ckpt, args, peaks, log, emit) -> None:
    import pipelines as P
    from checkpoints import checkpoint

    tasks = args.tasks.split(",") if args.tasks else list(P.TASKS)
    for task in tasks:
        if task not in P.TASKS:
            raise SystemExit(f"unknown pipeline task {task!r}; known: {', '.join(P.TASKS)}")
        directory = (checkpoint(P.TASKS[task][1], P.CHECKPOINT_USE.get(task, task), ckpt, args.quick)
                     if P.available(task) else None)
        row = P.bench_task(task, directory, quick=args.quick, repeats=cfg["pipeline_repeats"], dtype=args.dtype,
                           new_tokens=cfg["new"], log=log)
        if peaks and "useful_flops" in row:
            cost = dict(flops=row["useful_flops"])
            _set_floor(row, cost, "pipeline", peaks)
            FLOOR_ROWS.append((row, cost, "pipeline"))
            log(f"pipelines {task:13} useful GFLOP/s jaxnlp {row['jaxnlp']['useful_gflops']:.1f} "
                f"({row['jaxnlp']['over_floor']:.2f}x floor, computed / useful FLOPs "
                f"{row['jaxnlp']['computed_flops'] / row['useful_flops']:.2f})" + (
                    f", torch {row['torch']['useful_gflops']:.1f} ({row['torch']['over_floor']:.2f}x floor, "
                    f"{row['torch']['computed_flops'] / row['useful_flops']:.2f})" if "torch" in row else ""))
        emit(row)


def _bytes(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else 4


# -- main -----------------------------------------------------------------------------------

INFO = """
import json, jax, torch, transformers
import jaxnlp.native
from _common import device_name, host_info
from roofline import measure_peaks
dev = jax.devices()[0]
print(json.dumps(dict(device=str(dev), device_kind=dev.device_kind, name=device_name(), host=host_info(),
                      native=jaxnlp.native.status(),
                      torch_device="cuda" if torch.cuda.is_available() else "cpu",
                      versions=dict(jax=jax.__version__, torch=torch.__version__, transformers=transformers.__version__),
                      peaks=measure_peaks({dtype!r}, {quick!r}) if {peaks!r} else None)))
"""


PEAKS = """
import json
from roofline import measure_peaks
print(json.dumps(measure_peaks({dtype!r}, {quick!r})))
"""


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--suite", default=",".join(SUITES), help=f"comma list of {', '.join(SUITES)}")
    ap.add_argument("--models", default=None, help="comma list (default: all of "
                    f"{', '.join(dict.fromkeys(FORWARD_MODELS + GENERATE_MODELS))})")
    ap.add_argument("--load-models", default=None, help="load suite: bert-base and/or gpt2 (default: those in --models)")
    ap.add_argument("--tasks", default=None, help="pipelines suite: comma list of tasks (default: all)")
    ap.add_argument("--quick", action="store_true", help="tiny models, fewer cases and repeats: a smoke run")
    ap.add_argument("--repeats", type=int, default=None, help="steady-state calls per case (default 3, quick 2)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="forward and generate: jaxnlp / PyTorch worker pairs run in alternation, their steady-state "
                         "calls pooled (default 1)")
    ap.add_argument("--load-repeats", type=int, default=None, help="fresh processes per load row (default 3, quick 1)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--compile-cache", default=None, help="persistent compilation cache dir for the load suite")
    ap.add_argument("--ckpt-dir", default=None,
                    help="keep the random checkpoints here and reuse them (default: a temp dir)")
    ap.add_argument("--out", default=str(RESULTS), help="results directory (default bench/results)")
    ap.add_argument("--name", default=None, help="file stem (default <device>[_<dtype>][_quick])")
    ap.add_argument("--cases", default=None,
                    help="generate suite: comma list of batch:mode (e.g. 1:greedy,8:beam4,8:sample)")
    ap.add_argument("--peers", default="", help="comma list of extra peers for forward and generate: flax "
                    "(transformers 4.46 Flax models in .venvflax, scripts/setup_flax446.sh; bench/flax_peer.py)")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    FLOOR_ROWS.clear()                 # this run's rows only
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return {}
    args.peers = tuple(p for p in args.peers.split(",") if p)
    for p in args.peers:
        if p not in PEERS:
            raise SystemExit(f"unknown peer {p!r}; known: {', '.join(PEERS)}")
    if "flax" in args.peers and not flax_peer_ready():
        args.peers = tuple(p for p in args.peers if p != "flax")
    suites = args.suite.split(",")
    for s in suites:
        if s not in SUITES:
            raise SystemExit(f"unknown suite {s!r}; known: {', '.join(SUITES)}")
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeats:
        cfg.update(repeats=args.repeats, pipeline_repeats=args.repeats)
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    cfg["rounds"] = args.rounds
    if args.load_repeats:
        cfg.update(load_repeats=args.load_repeats)
    if args.cases:
        cases = [(int(c.split(":")[0]), c.split(":")[1]) for c in args.cases.split(",")]
        bad = [m for _, m in cases if m not in MODES]
        if bad:
            raise SystemExit(f"unknown generation mode(s) {bad}; known: {', '.join(MODES)}")
        cfg["generate_cases"] = cases
    models = args.models.split(",") if args.models else list(dict.fromkeys(FORWARD_MODELS + GENERATE_MODELS))

    # the GPU belongs to the workers: this process never initialises jax (it would hold device memory)
    info = run_fresh(INFO.format(peaks="roofline" in suites or bool({"forward", "generate"} & set(suites)),
                                 dtype=args.dtype, quick=args.quick))
    stem = args.name or info["name"] + ("_bfloat16" if args.dtype == "bfloat16" else "") + (
        "_quick" if args.quick else "")
    start = time.perf_counter()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    result = dict(device=info["device"], device_kind=info["device_kind"], host=info["host"],
                  native=info.get("native"), dtype=args.dtype,
                  quick=args.quick,
                  config=cfg, versions=info["versions"], torch_device=info["torch_device"], peers=list(args.peers),
                  suites={})
    peaks = info["peaks"]
    log(host_line(info["host"]))
    if peaks:
        result["suites"]["roofline"] = peaks
        log(f"roofline: matmul {peaks['matmul_gflops']:.1f} GFLOP/s ({args.dtype}, n={peaks['matmul_n']}), "
            f"bandwidth {peaks['bandwidth_gbs']:.1f} GB/s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{stem}.json", out / f"{stem}.md"]

    def save():   # after every suite, so a run cut short keeps what it measured
        import table

        result["wall_s"] = time.perf_counter() - start
        written[0].write_text(json.dumps(result, indent=1) + "\n")
        written[1].write_text(table.run_tables(result) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(args.ckpt_dir or tmp)
        for suite in [s for s in SUITES if s in suites and s != "roofline"]:
            t = time.perf_counter()
            blocks = result["suites"].setdefault(suite, [])

            def emit(block, blocks=blocks):   # saved after every model / task
                blocks.append(block)
                save()
            globals()[f"suite_{suite}"](models, cfg, ckpt, args, peaks, log, emit)
            log(f"-- {suite}: {time.perf_counter() - t:.0f} s")
            save()
    if peaks and FLOOR_ROWS:
        # the machine's bandwidth moves within a run (a shared VM): measure the
        # peaks again and hold every row to the better of the two (the stricter floor)
        end = run_fresh(PEAKS.format(dtype=args.dtype, quick=args.quick))
        best = dict(peaks, start=peaks, end=end)
        for key in ("matmul_gflops", "bandwidth_gbs", "read_gbs", "copy_gbs"):
            best[key] = max(peaks[key], end[key])
        result["suites"]["roofline"] = best
        for r, cost, kind in FLOOR_ROWS:
            _set_floor(r, cost, kind, best)
        log(f"roofline again at the end: matmul {end['matmul_gflops']:.1f} GFLOP/s, bandwidth "
            f"{end['bandwidth_gbs']:.1f} GB/s; floors from the better of both: {best['matmul_gflops']:.1f}, "
            f"{best['bandwidth_gbs']:.1f}")
    save()
    if not args.no_plots:
        import plots

        written += plots.plot(result, out, stem)
    log(f"wrote {', '.join(str(p) for p in written)} in {result['wall_s']:.0f} s")
    return result


if __name__ == "__main__":
    main()
