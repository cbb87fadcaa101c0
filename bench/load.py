"""Time from files to a first result: jaxnlp (HF directory, the converted
format, and reusing the persistent compilation cache) vs transformers
from_pretrained + first call, on the same random checkpoint of a real size,
each in a fresh process.

    .venv/bin/python bench/load.py [--repeats 3] [--small] [--json out.json]
                                   [--compile-cache DIR]

transformers' from_pretrained alone only memory-maps lazily, so every row
times files -> first result; jaxnlp's load and compile are also shown apart.
The cache row first fills a persistent compilation cache (jax's
jax_compilation_cache_dir, every program cached) in one process, then times
fresh processes that find their programs there. bench/run.py's `load` suite
calls `load_rows` for bert-base (forward) and gpt2 (greedy generation).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_fresh, summary  # noqa: E402

BATCH, SEQ = 8, 128
PROMPT, NEW = 32, 32

CACHE = """
jax.config.update("jax_compilation_cache_dir", {cache!r})
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
"""

JAXNLP = """
import time, json
t0 = time.perf_counter()
import numpy as np, jax, jaxnlp
{cache}
t1 = time.perf_counter()
m = jaxnlp.load_model({path!r}, task={task!r}, dtype={dtype!r}, param_dtype={dtype!r})
jax.block_until_ready(m.params)
t2 = time.perf_counter()
ids = np.full(({b}, {s}), 5, np.int32)
if {generate!r}:
    run = lambda: jaxnlp.generate(m, ids, np.ones_like(ids), max_new_tokens={new})
else:
    run = lambda: jax.block_until_ready(m(input_ids=ids, attention_mask=np.ones_like(ids)))
run()
t3 = time.perf_counter()
run()
t4 = time.perf_counter()
print(json.dumps(dict(import_s=t1-t0, load_s=t2-t1, first_call_s=t3-t2, files_to_result_s=t3-t1, steady_call_s=t4-t3,
                      peak_rss_mb=[int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:')][0])))
"""

TORCH = """
import time, json
t0 = time.perf_counter()
import torch, transformers
t1 = time.perf_counter()
dev = "cuda" if torch.cuda.is_available() else "cpu"
cls = transformers.AutoModelForCausalLM if {generate!r} else transformers.AutoModel
m = cls.from_pretrained({path!r}, dtype=getattr(torch, {dtype!r})).eval().to(dev)
t2 = time.perf_counter()
ids = torch.full(({b}, {s}), 5, dtype=torch.long, device=dev)
def run():
    with torch.no_grad():
        if {generate!r}:
            m.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens={new}, do_sample=False)
        else:
            m(input_ids=ids, attention_mask=torch.ones_like(ids))
    if dev == "cuda":
        torch.cuda.synchronize()
run()
t3 = time.perf_counter()
run()
t4 = time.perf_counter()
print(json.dumps(dict(import_s=t1-t0, load_s=t2-t1, first_call_s=t3-t2, files_to_result_s=t3-t1, steady_call_s=t4-t3,
                      peak_rss_mb=[int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:')][0])))
"""


def make_checkpoint(directory: Path, small: bool) -> Path:
    from checkpoints import checkpoint

    return checkpoint("bert-base", "base", directory, small)


def load_rows(hf: Path, converted: Path | None, *, repeats: int, generate: bool = False, dtype: str = "float32",
              cache_dir: Path | None = None, log=print) -> dict:
    """{row name: {figure: summary}} for one checkpoint (forward, or greedy generation)."""
    shape = dict(b=1, s=PROMPT, new=NEW) if generate else dict(b=BATCH, s=SEQ, new=0)
    task = "causal-lm" if generate else "base"
    common = dict(task=task, dtype=dtype, generate=generate, **shape)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(cache_dir or tmp) / f"{Path(hf).name}-{dtype}"
        shutil.rmtree(cache, ignore_errors=True)
        variants = [("jaxnlp (HF safetensors dir)", JAXNLP, hf, ""),
                    ("jaxnlp (converted format)", JAXNLP, converted, ""),
                    ("jaxnlp (compile cache reused)", JAXNLP, hf, CACHE.format(cache=str(cache))),
                    ("transformers (PyTorch)", TORCH, hf, "")]
        run_fresh(JAXNLP.format(path=str(hf), cache=variants[2][3], **common))    # fills the cache
        rows = {}
        for name, code, path, setup in variants:
            if path is None:
                continue
            runs = [run_fresh(code.format(path=str(path), cache=setup, **common)) for _ in range(repeats)]
            rows[name] = {k: summary([r[k] for r in runs]) for k in runs[0]}
            log(f"load {Path(hf).name:28} {name:32} files->result {rows[name]['files_to_result_s']['median']:6.2f} s")
    return rows


def print_rows(rows: dict, title: str) -> None:
    ref = rows["transformers (PyTorch)"]["files_to_result_s"]["median"]
    print(title)
    print(f"{'':32} {'import':>7} {'load':>7} {'1st call':>9} {'files->result':>14} {'steady':>7} {'vs torch':>9}")
    for name, r in rows.items():
        med = {k: v["median"] for k, v in r.items()}
        print(f"{name:32} {med['import_s']:7.2f} {med['load_s']:7.2f} {med['first_call_s']:9.2f} "
              f"{med['files_to_result_s']:14.2f} {med['steady_call_s']:7.3f} {med['files_to_result_s'] / ref:8.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="a tiny model (smoke test)")
    ap.add_argument("--compile-cache", default=None, help="directory for the persistent compilation cache")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hf = make_checkpoint(tmp, args.small)
        from jaxnlp.cli import main as cli
        cli(["convert", str(hf), str(tmp / "converted")])
        rows = load_rows(hf, tmp / "converted", repeats=args.repeats, cache_dir=args.compile_cache)
    print_rows(rows, f"bert-base-sized random checkpoint, forward batch {BATCH} x {SEQ}, "
                     f"median of {args.repeats} fresh processes (seconds)")
    print(json.dumps(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": "bert-base sized, random", "batch": BATCH, "seq": SEQ,
                                               "repeats": args.repeats, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
