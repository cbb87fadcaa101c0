"""Where the time of one benchmark case goes, op by op (XLA on the local device).

    .venv/bin/python bench/op_profile.py --model bart-base --case 8:beam4 [--ckpt-dir /tmp/jaxnlp-bench]
    .venv/bin/python bench/op_profile.py --model bert-base --case 1:128          # a forward (batch:seq)

Runs the case as bench/run.py does (same random checkpoint of the real size,
32-token prompts/sources, 32 new tokens for generation), compiles it, then
traces one call (`jax.profiler`, perfetto events) and names every executed
HLO op by the jaxnlp source operation it comes from (its `op_name` in the
optimised HLO, which this script dumps). Ops of the same name in every layer
are added up (`layers_3`, T5's `block_3`, GPT-2's `h_3` -> `..._*`). A fusion is named by its root op:
e.g. on CPU the LM head's dot fused with log_softmax's max shows as
`log_softmax/reduce_max`. Prints ms per call, executions per call and the
share of the traced time, largest first. The profiler adds
overhead (a few %), so the total exceeds an untraced call a little.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bart-base",
                    help="bert-base, distilbert (forward); gpt2; bart-base, t5-small, marian (generate)")
    ap.add_argument("--case", default="8:beam4", help="batch:greedy|beam4|sample, or batch:seq for a forward")
    ap.add_argument("--ckpt-dir", default=os.path.join(tempfile.gettempdir(), "jaxnlp-bench"))
    ap.add_argument("--calls", type=int, default=1, help="calls traced (times are per call)")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()

    dump = tempfile.mkdtemp(prefix="jaxnlp-profile-")
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={dump} --xla_dump_hlo_as_text "
                               "--xla_dump_hlo_pass_re=^$").strip()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import jax
    import numpy as np

    import generate as G
    import jaxnlp
    from checkpoints import checkpoint

    batch, what = args.case.split(":")
    batch = int(batch)
    if what.isdigit():
        model = jaxnlp.load_model(checkpoint(args.model, "base", Path(args.ckpt_dir)), task="base")
        ids = np.random.default_rng(0).integers(5, 1000, (batch, int(what)))

        def call():
            jax.block_until_ready(model(input_ids=ids, attention_mask=np.ones_like(ids)))
    else:
        decoder_only = args.model == "gpt2"
        directory = checkpoint(args.model, "generate", Path(args.ckpt_dir))
        model = jaxnlp.load_model(directory, task="causal-lm" if decoder_only else "seq2seq-lm")
        config = json.loads((directory / "config.json").read_text())
        ids, mask = G.prompts(batch, 32, config["vocab_size"], config.get("pad_token_id") or 0, left=decoder_only)
        opts = dict(do_sample=True, top_k=50, max_new_tokens=32) if what == "sample" else G.options(what, 32)

        def call():
            jaxnlp.generate(model, ids, mask, **opts)

    call()
    call()
    trace = tempfile.mkdtemp(prefix="jaxnlp-trace-")
    with jax.profiler.trace(trace, create_perfetto_trace=True):
        for _ in range(args.calls):
            call()
    events = json.load(gzip.open(glob.glob(f"{trace}/**/*.trace.json.gz", recursive=True)[0]))
    events = events["traceEvents"] if isinstance(events, dict) else events

    ops = {}   # (module, op) -> (shape, source op name)
    for path in glob.glob(f"{dump}/*after_optimizations.txt"):
        module = re.sub(r"^module_\d+\.", "", Path(path).name).split(".cpu_after")[0].split(".gpu_after")[0]
        for line in open(path):
            m = re.match(r'\s*(?:ROOT )?%(\S+) = (\S+) .*?op_name="([^"]+)"', line)
            if m:
                ops[(module, m.group(1))] = (m.group(2), m.group(3))
    table = collections.defaultdict(lambda: [0, 0.0, ""])
    for e in events:
        a = e.get("args") or {}
        if e.get("ph") != "X" or "hlo_op" not in a:
            continue
        shape, source = ops.get((a.get("hlo_module"), a["hlo_op"]), ("?", a["hlo_op"]))
        source = re.sub(r"^jit\([^)]*\)/", "", source)
        source = re.sub(r"(?<=/)(layers?|block|h)_\d+(?=/)", r"\1_*", source)    # BERT/BART, T5, GPT-2
        row = table[source]
        row[0] += 1
        row[1] += e.get("dur", 0.0) / 1e3
        row[2] = shape
    total = sum(r[1] for r in table.values())
    print(f"{args.model} {args.case}: {total / args.calls:.1f} ms of XLA ops per call "
          f"({sum(r[0] for r in table.values()) // args.calls} op executions)")
    print(f"{'ms/call':>9} {'runs':>6} {'share':>6}  {'shape (last seen)':26} source op")
    for source, (n, ms, shape) in sorted(table.items(), key=lambda kv: -kv[1][1])[:args.top]:
        print(f"{ms / args.calls:9.2f} {n // args.calls:6d} {100 * ms / total:5.1f}%  {shape[:26]:26} {source[-110:]}")


if __name__ == "__main__":
    main()
