"""Whole `generate` calls with one jaxnlp switch off and on, in alternating
fresh processes, tokens compared (the CPU's speed drifts within minutes, so
each setting gets the best of several processes, interleaved).

    .venv/bin/python bench/ab_generate.py --switch beam-cache [--rounds 2] [--ckpt-dir /tmp/jaxnlp-bench]
    .venv/bin/python bench/ab_generate.py --switch vocab-head --cases 1:beam4,8:greedy,8:beam4
    .venv/bin/python bench/ab_generate.py --base 7c6d165 --cases 1:beam4,8:greedy,8:beam4

`--base REV` compares the library at git revision REV (a temporary
`git worktree`, imported through PYTHONPATH) with the working tree, no switch
set on either side (labels "base" / "tree").

Switches (off -> on):
  beam-cache  attention caches copied per beam and reordered every step ->
              kept in place, an index table reordered (jaxnlp.generation.api.GROUPED_BEAM_CACHE)
  shared-prompt  a decoder-only prompt's keys/values copied to every beam -> kept once per
              batch row (jaxnlp.generation.api.SHARED_PROMPT_CACHE)
  vocab-head  the tied LM head row-major -> vocabulary-major at <= 32 rows on CPU
              (jaxnlp.nn.embeddings.VOCAB_MAJOR_MAX_ROWS 0 -> its default)
  gpu-graphs  XLA:GPU's default command buffers -> with the decoding while loop and its
              conditionals recorded into CUDA graphs too (XLA_FLAGS
              --xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL; a GPU only)
  native      XLA's dot in decoding steps -> jaxnlp.native's kernel on pre-arranged weights
              (JAXNLP_CPU_KERNELS=0 -> 1)
  xla-flags   XLA's defaults -> the flags given with --flags added to XLA_FLAGS, e.g.
              --switch xla-flags --flags=--xla_cpu_experimental_ynn_fusion_type=dot

Same checkpoints and prompts as bench/run.py: random weights of the real
sizes, 32-token prompts/sources, 32 new tokens, eos unset.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MODELS = ("t5-small", "bart-base", "marian", "gpt2")
SWITCHES = ("beam-cache", "shared-prompt", "vocab-head", "gpu-graphs", "native", "xla-flags", "none")
# Switches that are XLA flags: set in the worker's environment before jax starts.
XLA_SWITCHES = {"gpu-graphs": "--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL"}


def _set_switch(switch: str, on: bool) -> None:
    if switch == "beam-cache":
        import jaxnlp.generation.api as api
        api.GROUPED_BEAM_CACHE = on
    elif switch == "shared-prompt":
        import jaxnlp.generation.api as api
        api.SHARED_PROMPT_CACHE = on
    elif switch == "vocab-head":
        import jaxnlp.nn.embeddings as E
        if not on:
            E.VOCAB_MAJOR_MAX_ROWS = 0
    elif switch == "native":
        import jaxnlp.native as N
        N.enable(on)
        if on:
            assert N.usable(), N.status()
    elif switch not in XLA_SWITCHES and switch not in ("xla-flags", "none"):
        raise ValueError(f"unknown switch {switch!r}")


def worker(spec: dict) -> None:
    """One process: one model, every case with the switch set; prints JSON
    {"jaxnlp": where it was imported from, "cases": {case: {"ms": best of 5 calls, "tokens": [...]}}}."""
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    import numpy as np

    import jaxnlp
    _set_switch(spec["switch"], spec["on"])
    import generate as G
    from _common import time_calls
    from checkpoints import checkpoint

    name = spec["model"]
    directory = checkpoint(name, "generate", Path(spec["ckpt_dir"]))
    model = jaxnlp.load_model(directory, task="causal-lm" if name == "gpt2" else "seq2seq-lm")
    config = json.loads((directory / "config.json").read_text())
    out = {}
    for case in spec["cases"]:
        batch, mode = case.split(":")
        ids, mask = G.prompts(int(batch), 32, config["vocab_size"], config.get("pad_token_id") or 0,
                              left=name == "gpt2")
        opts = G.options(mode, 32)
        fn = lambda: np.asarray(jaxnlp.generate(model, ids, mask, **opts))  # noqa: E731
        fn()
        fn()
        out[case] = dict(ms=min(time_calls(fn, 5)) * 1e3, tokens=fn().tolist())
    held = model.__dict__.get("_native_packed")          # jaxnlp.native's pre-arranged copy, if any
    packed_mb = held.nbytes() / 1e6 if held is not None else 0.0
    print(json.dumps({"jaxnlp": str(Path(jaxnlp.__file__).resolve()), "cases": out, "packed_mb": packed_mb}))


def compare(switch: str, cases: list[str], ckpt_dir: str, rounds: int, models=MODELS,
            labels: tuple[str, str] = ("off", "on"), roots: tuple[str, str] | None = None) -> None:
    """Print, per model and case, the best ms off and on and whether the tokens agree.
    `roots`: the (off, on) source trees the workers import jaxnlp from."""
    print(f"generate with {switch} {labels[0]} / {labels[1]}, 32-token prompt/source, 32 new tokens "
          f"(ms, best of 5 calls per process, best of {rounds} alternating processes per setting)")
    for name in models:
        best, tokens, packed = {}, {}, {}
        for _ in range(rounds):
            for on in (False, True):
                spec = dict(model=name, ckpt_dir=ckpt_dir, switch=switch, on=on, cases=cases)
                env = dict(os.environ)
                if on and switch in XLA_SWITCHES:
                    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + XLA_SWITCHES[switch]).strip()
                if roots is not None:
                    env["PYTHONPATH"] = os.pathsep.join([roots[on]] + [p for p in [env.get("PYTHONPATH")] if p])
                res = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                                     capture_output=True, text=True, env=env)
                if res.returncode:
                    sys.exit(f"worker {spec} failed ({res.returncode}):\n{res.stderr[-3000:]}")
                got = json.loads(res.stdout.strip().splitlines()[-1])
                if roots is not None and not Path(got["jaxnlp"]).is_relative_to(Path(roots[on]).resolve()):
                    sys.exit(f"worker imported jaxnlp from {got['jaxnlp']}, not from {roots[on]}")
                for case, r in got["cases"].items():
                    best[on, case] = min(best.get((on, case), float("inf")), r["ms"])
                    tokens.setdefault(case, set()).add(json.dumps(r["tokens"]))
                packed[on] = got.get("packed_mb", 0.0)
        for case in cases:
            off, on = best[False, case], best[True, case]
            same = "same tokens" if len(tokens[case]) == 1 else "TOKENS DIFFER"
            print(f"  {name:10} {case:9} {labels[0]} {off:7.1f}  {labels[1]} {on:7.1f}  ({off / on:.2f}x, {same})",
                  flush=True)
        if any(packed.values()):
            print(f"  {name:10} jaxnlp.native's pre-arranged kernels: {labels[0]} {packed[False]:.0f} MB, "
                  f"{labels[1]} {packed[True]:.0f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--switch", choices=SWITCHES, default="beam-cache")
    ap.add_argument("--cases", default=None, help="comma-separated batch:mode (default: the switch's cases)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--ckpt-dir", default=os.path.join(tempfile.gettempdir(), "jaxnlp-bench"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--base", help="git revision: compare the library there with the working tree")
    ap.add_argument("--flags", default="", help="with --switch xla-flags: the XLA flags of the 'on' side")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.switch == "xla-flags":
        if not args.flags.strip():
            ap.error("--switch xla-flags needs --flags")
        XLA_SWITCHES["xla-flags"] = args.flags.strip()
    if args.worker:
        worker(json.loads(args.worker))
        return
    default = {"beam-cache": "1:beam4,8:beam4,8:greedy", "shared-prompt": "1:beam4,8:beam4",
               "vocab-head": "1:beam4,8:greedy,8:beam4", "gpu-graphs": "1:greedy,8:beam4",
               "xla-flags": "1:greedy,8:greedy,8:beam4",
               "native": "1:greedy,8:greedy,8:beam4", "none": "1:beam4,8:beam4,8:greedy"}[args.switch]
    cases, models = (args.cases or default).split(","), args.models.split(",")
    if not args.base:
        compare(args.switch, cases, args.ckpt_dir, args.rounds, models)
        return
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="jaxnlp-base-") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "-q", str(tree), args.base], check=True)
        try:
            compare("none", cases, args.ckpt_dir, args.rounds, models, labels=(f"base {args.base}", "tree"),
                    roots=(str(tree), str(repo)))
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], check=False)


if __name__ == "__main__":
    main()
