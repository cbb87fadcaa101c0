"""jaxnlp.generate vs transformers generate (PyTorch; CUDA when present) on
the same random checkpoint of a real size, measured in one run.

    .venv/bin/python bench/generate.py [--model gpt2|bart-base|marian|t5-small]
                                       [--repeats 3] [--small] [--json out.json]

gpt2 (124M): batch 1 and 8, 32-token prompt, 64 new tokens, greedy and beam 4,
plus the reference row (batch 4, 16-token prompt, 32 new tokens).
bart-base / marian (opus-mt-en-fr sized) / t5-small: batch 4, 64-token
source, 64 new tokens, greedy and beam 4, plus the reference row (batch 4,
33-token source, beam 4, 32 new tokens). eos is unset so both sides generate
every token. jaxnlp's first call (compile + run) is reported apart from its
steady state (median of repeats).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import time_calls  # noqa: E402

DECODER_CASES = [  # (batch, prompt, new, mode)
    (1, 32, 64, "greedy"), (8, 32, 64, "greedy"),
    (1, 32, 64, "beam4"), (8, 32, 64, "beam4"),
    (4, 16, 32, "greedy"), (4, 16, 32, "beam4"),
]
SEQ2SEQ_CASES = [(4, 64, 64, "greedy"), (4, 64, 64, "beam4"), (4, 33, 32, "beam4")]


def _sizes(small: bool, full: dict, tiny: dict) -> dict:
    return tiny if small else full


def make_checkpoint(name: str, directory: Path, small: bool):
    """(model class, vocab size, pad id) after saving a random checkpoint."""
    import torch
    import transformers as T

    torch.manual_seed(0)
    no_eos = dict(eos_token_id=None, forced_eos_token_id=None)
    if name == "gpt2":
        config = T.GPT2Config(vocab_size=50257, n_positions=1024, bos_token_id=None, eos_token_id=None,
                              pad_token_id=0, **_sizes(small, dict(n_embd=768, n_layer=12, n_head=12),
                                                       dict(n_embd=64, n_layer=2, n_head=2)))
        cls, pad, gen = T.GPT2LMHeadModel, 0, dict(pad_token_id=0)
    elif name in ("bart-base", "marian"):
        size = dict(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
                    decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072)
        if name == "marian":
            size = dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                        decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048)
        size = _sizes(small, size, dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                                        decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128))
        if name == "bart-base":
            config = T.BartConfig(vocab_size=50265, pad_token_id=1, bos_token_id=0, decoder_start_token_id=2,
                                  **no_eos, **size)
            cls, pad = T.BartForConditionalGeneration, 1
        else:
            config = T.MarianConfig(vocab_size=59514, decoder_vocab_size=59514, pad_token_id=59513,
                                    decoder_start_token_id=59513, scale_embedding=True,
                                    activation_function="swish", max_position_embeddings=512, **no_eos, **size)
            cls, pad = T.MarianMTModel, 59513
        gen = dict(pad_token_id=pad, decoder_start_token_id=config.decoder_start_token_id, **no_eos)
    elif name == "t5-small":
        size = _sizes(small, dict(d_model=512, d_ff=2048, d_kv=64, num_layers=6, num_heads=8),
                      dict(d_model=64, d_ff=128, d_kv=32, num_layers=2, num_heads=2))
        config = T.T5Config(vocab_size=32128, pad_token_id=0, decoder_start_token_id=0, eos_token_id=None, **size)
        cls, pad, gen = T.T5ForConditionalGeneration, 0, dict(pad_token_id=0, decoder_start_token_id=0,
                                                               eos_token_id=None)
    else:
        raise SystemExit(f"unknown model {name!r}")
    model = cls(config)
    model.save_pretrained(directory)
    T.GenerationConfig(**gen).save_pretrained(directory)
    return cls, config.vocab_size, pad


def prompts(batch: int, length: int, vocab: int, pad: int, left: bool):
    rng = np.random.default_rng(0)
    ids = rng.integers(3, vocab - 2, (batch, length)).astype(np.int64)
    mask = np.ones_like(ids)
    for i in range(1, batch):           # padding, different lengths (left for decoder-only)
        cut = min(i, length - 1)
        sl = slice(0, cut) if left else slice(length - cut, length)
        ids[i, sl], mask[i, sl] = pad, 0
    return ids, mask


def options(mode: str, new: int) -> dict:
    beams = dict(num_beams=4, early_stopping=True) if mode == "beam4" else {}
    return dict(max_new_tokens=new, **beams)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gpt2", choices=["gpt2", "bart-base", "marian", "t5-small"])
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
        path = Path(tmp)
        cls, vocab, pad = make_checkpoint(args.model, path, args.small)
        ref = cls.from_pretrained(path).eval().to(device)
        decoder_only = args.model == "gpt2"
        ours = jaxnlp.load_model(path, task="causal-lm" if decoder_only else "seq2seq-lm")
        for batch, plen, new, mode in (DECODER_CASES if decoder_only else SEQ2SEQ_CASES):
            ids, mask = prompts(batch, plen, vocab, pad, left=decoder_only)
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
    result = dict(device=str(jax.devices()[0]), torch_device=device, model=args.model + (" (tiny)" if args.small else " sized, random"),
                  repeats=args.repeats, rows=rows)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
