"""jaxnlp.generate vs transformers generate (PyTorch, CPU) on the same random
gpt2-sized (124M) checkpoint, measured in one run.

    .venv/bin/python bench/generate.py [--repeats 3] [--small] [--json out.json]

Rows: batch 1 and 8, 32-token prompt, 64 new tokens, greedy and beam 4, plus
the issue's reference row (batch 4, 16-token prompt, 32 new tokens). eos is
unset so both sides generate every token. jaxnlp's first call (compile +
run) is reported apart from its steady state (median of repeats).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = [  # (batch, prompt, new, mode)
    (1, 32, 64, "greedy"), (8, 32, 64, "greedy"),
    (1, 32, 64, "beam4"), (8, 32, 64, "beam4"),
    (4, 16, 32, "greedy"), (4, 16, 32, "beam4"),
]


def make_checkpoint(directory: Path, small: bool) -> Path:
    import torch
    import transformers

    size = dict(n_embd=768, n_layer=12, n_head=12) if not small else dict(n_embd=64, n_layer=2, n_head=2)
    config = transformers.GPT2Config(vocab_size=50257, n_positions=1024, bos_token_id=None,
                                     eos_token_id=None, pad_token_id=0, **size)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    model.save_pretrained(directory)
    transformers.GenerationConfig(pad_token_id=0).save_pretrained(directory)
    return directory


def prompts(batch: int, length: int):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50257, (batch, length)).astype(np.int64)
    mask = np.ones_like(ids)
    for i in range(1, batch):           # left padding, different lengths
        cut = min(i, length - 1)
        ids[i, :cut], mask[i, :cut] = 0, 0
    return ids, mask


def options(mode: str, new: int) -> dict:
    beams = dict(num_beams=4, early_stopping=True) if mode == "beam4" else {}
    return dict(max_new_tokens=new, **beams)


def time_calls(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="tiny model (smoke test)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch
    import transformers
    import jax
    import jaxnlp

    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = make_checkpoint(Path(tmp), args.small)
        ref = transformers.GPT2LMHeadModel.from_pretrained(path).eval().to(device)
        ours = jaxnlp.load_model(path, task="causal-lm")
        for batch, plen, new, mode in CASES:
            ids, mask = prompts(batch, plen)
            opts = options(mode, new)
            t = time.perf_counter()
            out = jaxnlp.generate(ours, ids, mask, **opts)
            first = time.perf_counter() - t
            ours_t = time_calls(lambda: jaxnlp.generate(ours, ids, mask, **opts), args.repeats)
            with torch.no_grad():
                tids, tmask = torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)
                expect = ref.generate(tids, attention_mask=tmask, **opts).cpu().numpy()

                def torch_call():
                    ref.generate(tids, attention_mask=tmask, **opts)
                    if device == "cuda":
                        torch.cuda.synchronize()
                torch_t = time_calls(torch_call, args.repeats)
            row = dict(batch=batch, prompt=plen, new=new, mode=mode,
                       jaxnlp_first_call_s=first, jaxnlp_s=statistics.median(ours_t),
                       jaxnlp_spread=[min(ours_t), max(ours_t)], torch_s=statistics.median(torch_t),
                       torch_spread=[min(torch_t), max(torch_t)],
                       same_tokens=bool(out.shape == expect.shape and (out == expect).all()))
            row["speedup"] = row["torch_s"] / row["jaxnlp_s"]
            rows.append(row)
            print(f"batch {batch} prompt {plen} new {new} {mode:6}: jaxnlp {row['jaxnlp_s']:.3f} s "
                  f"(first call {first:.2f} s)  torch {row['torch_s']:.3f} s  "
                  f"speedup {row['speedup']:.2f}x  same tokens: {row['same_tokens']}", flush=True)
    result = dict(device=str(jax.devices()[0]), torch_device=device, model="gpt2-124M random" if not args.small else "tiny",
                  repeats=args.repeats, rows=rows)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
