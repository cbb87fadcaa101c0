"""Time from files to a first forward result: jaxnlp (HF directory and the
converted format) vs transformers from_pretrained + first forward, on the
same bert-base-sized random checkpoint, each in a fresh process.

    .venv/bin/python bench/load.py [--repeats 3] [--small] [--json out.json]

transformers' from_pretrained alone only memory-maps lazily, so every row
times files -> first result; jaxnlp's load and compile are also shown apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_fresh, summary  # noqa: E402

BATCH, SEQ = 8, 128

JAXNLP = """
import time, json
t0 = time.perf_counter()
import numpy as np, jax, jaxnlp
t1 = time.perf_counter()
m = jaxnlp.load_model({path!r})
jax.block_until_ready(m.params)
t2 = time.perf_counter()
ids = np.ones(({b}, {s}), np.int32)
out = m(input_ids=ids, attention_mask=np.ones_like(ids)); jax.block_until_ready(out)
t3 = time.perf_counter()
out = m(input_ids=ids, attention_mask=np.ones_like(ids)); jax.block_until_ready(out)
t4 = time.perf_counter()
print(json.dumps(dict(import_s=t1-t0, load_s=t2-t1, first_call_s=t3-t2, files_to_result_s=t3-t1, steady_call_s=t4-t3)))
"""

TORCH = """
import time, json
t0 = time.perf_counter()
import torch, transformers
t1 = time.perf_counter()
m = transformers.AutoModel.from_pretrained({path!r}).eval()
t2 = time.perf_counter()
ids = torch.ones(({b}, {s}), dtype=torch.long)
with torch.no_grad():
    m(input_ids=ids, attention_mask=torch.ones_like(ids))
t3 = time.perf_counter()
with torch.no_grad():
    m(input_ids=ids, attention_mask=torch.ones_like(ids))
t4 = time.perf_counter()
print(json.dumps(dict(import_s=t1-t0, load_s=t2-t1, first_call_s=t3-t2, files_to_result_s=t3-t1, steady_call_s=t4-t3)))
"""


def make_checkpoint(directory: Path, small: bool) -> Path:
    import torch
    import transformers

    size = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    if small:
        size = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig(vocab_size=30522, **size))
    model.save_pretrained(directory / "hf")
    return directory / "hf"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="a tiny model (smoke test)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hf = make_checkpoint(tmp, args.small)
        from jaxnlp.cli import main as cli
        cli(["convert", str(hf), str(tmp / "converted")])
        rows = {}
        for name, code, path in (("jaxnlp (HF safetensors dir)", JAXNLP, hf),
                                 ("jaxnlp (converted format)", JAXNLP, tmp / "converted"),
                                 ("transformers (PyTorch)", TORCH, hf)):
            runs = [run_fresh(code.format(path=str(path), b=BATCH, s=SEQ)) for _ in range(args.repeats)]
            rows[name] = {k: summary([r[k] for r in runs]) for k in runs[0]}
    ref = rows["transformers (PyTorch)"]["files_to_result_s"]["median"]
    print(f"bert-base-sized random checkpoint, forward batch {BATCH} x {SEQ}, "
          f"median of {args.repeats} fresh processes (seconds)")
    print(f"{'':32} {'import':>7} {'load':>7} {'1st call':>9} {'files->result':>14} {'steady':>7} {'vs torch':>9}")
    for name, r in rows.items():
        med = {k: v["median"] for k, v in r.items()}
        print(f"{name:32} {med['import_s']:7.2f} {med['load_s']:7.2f} {med['first_call_s']:9.2f} "
              f"{med['files_to_result_s']:14.2f} {med['steady_call_s']:7.3f} {med['files_to_result_s'] / ref:8.2f}x")
    print(json.dumps(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": "bert-base sized, random", "batch": BATCH, "seq": SEQ,
                                               "repeats": args.repeats, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
