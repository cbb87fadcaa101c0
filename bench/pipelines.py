"""Pipeline throughput (items/s): jaxnlp.pipeline vs transformers' pipeline on
the same random checkpoints of real sizes, in one run.

    .venv/bin/python bench/pipelines.py [--task sentiment,sentiment-mixed,ner,qa,summarization,translation,conversation]
                                        [--quick] [--repeats 2] [--json out.json]

Tasks and checkpoints: sentiment (text-classification, distilbert; and
sentiment-mixed, the same over items of 4-96 words, where batches in input
order pad to their longest item and jaxnlp's length-sorted chunks do not), NER
(token-classification, aggregation "simple", bert-base), QA (distilbert),
summarization (bart-base, beam 4, no_repeat_ngram 3), translation (opus-mt
en-fr sized marian, beam 4), conversation (gpt2 sized, DialoGPT style, one
turn of fresh conversations; transformers has had no conversation pipeline
since 4.42, so its side is `TorchConversation`: the DialoGPT model-card
recipe, each input's ids and eos, left-padded in batches as jaxnlp's, one
`model.generate` per batch, the new ids up to the first eos decoded with
skip_special_tokens). Generating tasks write
exactly `new_tokens` tokens on both sides (min_new_tokens = max_new_tokens),
so both do the same work however random weights pick eos.

Each side runs in its own fresh process (so peak memory is its own): build
the pipeline (load), a first call over all items (compile + run for jaxnlp,
PyTorch's warm-up), then `repeats` timed calls; items/s from their median.
transformers 5 has no question-answering, translation or summarization
pipelines: their PyTorch side runs under transformers 4.57
(.venv457, scripts/setup_ref457.sh); without it those rows have no
reference. This file is also that worker (`--worker JSON`): it imports
neither jax nor jaxnlp unless it runs the jaxnlp side, so it runs under
both venvs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, host_peak_rss_mb, texts, time_calls  # noqa: E402

TASKS = {   # name -> (jaxnlp / transformers task, model, items, words per item, batch size)
    "sentiment": ("sentiment-analysis", "distilbert", 64, 24, 16),
    "sentiment-mixed": ("sentiment-analysis", "distilbert", 64, None, 16),   # 4-96 words an item
    "ner": ("ner", "bert-base", 64, 24, 16),
    "qa": ("question-answering", "distilbert", 32, 150, 16),
    "summarization": ("summarization", "bart-base", 8, 150, 8),
    "translation": ("translation_en_to_fr", "marian", 16, 20, 8),
    "conversation": ("conversation", "gpt2", 8, 16, 8),
}
NEEDS_457 = {"qa", "summarization", "translation"}   # the transformers 5 gap
ENCODER_TASKS = {"sentiment", "sentiment-mixed", "ner", "qa"}   # one forward per batch: FLOPs and a floor recorded
CHECKPOINT_USE = {"sentiment-mixed": "sentiment"}              # tasks that share another task's checkpoint
NEW_TOKENS = 32
VENV457 = ROOT / ".venv457" / "bin" / "python"


def inputs(task: str, quick: bool) -> list:
    _, _, n, words, _ = TASKS[task]
    n = max(2, n // 4) if quick else n
    if words is None:   # lengths spread as in real text: a batch in input order pads to its longest item
        import random

        rng = random.Random(4)
        return [texts(1, rng.randint(4, 96), seed=100 + i)[0] for i in range(n)]
    if task == "qa":
        questions = texts(n, 6, seed=2)
        return [{"question": q.rstrip(".") + "?", "context": c} for q, c in zip(questions, texts(n, words, seed=3))]
    return texts(n, words, seed=1)


def digest(task: str, outputs: list) -> list:
    """What must agree between the sides (labels, spans, texts; scores rounded)."""
    if task.startswith("sentiment"):
        return [[o["label"], round(o["score"], 3)] for o in outputs]
    if task == "ner":
        return [[[e["entity_group"], e["start"], e["end"]] for e in o] for o in outputs]
    if task == "qa":
        return [[o["start"], o["end"], o["answer"]] for o in outputs]
    if task in ("summarization", "translation"):
        key = "summary_text" if task == "summarization" else "translation_text"
        return [o[key] for o in outputs]
    return outputs


def generation_options(task: str, new_tokens: int) -> dict:
    return dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens) if task in (
        "summarization", "translation", "conversation") else {}


def run_side(spec: dict) -> dict:
    """One side of one task, in this process: load, first call, timed calls."""
    task, framework = spec["task"], spec["framework"]
    name, _, _, _, batch = TASKS[task]
    items = inputs(task, spec["quick"])
    options = generation_options(task, spec["new_tokens"])
    if task == "ner":
        options["aggregation_strategy"] = "simple"
    t0 = time.perf_counter()
    if framework == "jaxnlp":
        import jax
        import jaxnlp

        pipe = jaxnlp.pipeline(name, model=spec["dir"], batch_size=batch, dtype=spec["dtype"],
                               param_dtype=spec["dtype"])
        jax.block_until_ready(pipe.model.params)
        device = str(jax.devices()[0])
    else:
        import torch
        import transformers

        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = getattr(torch, spec["dtype"])
        key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
        if task == "conversation":
            pipe = TorchConversation(spec["dir"], device, batch, **{key: dtype})
        else:
            pipe = transformers.pipeline(name, model=spec["dir"], device=device, batch_size=batch, **{key: dtype})
        device = f"{device}, transformers {transformers.__version__}" + (
            " generate (DialoGPT recipe)" if task == "conversation" else "")
    load_s = time.perf_counter() - t0
    call = _caller(task, framework, pipe, items, options)
    calls: list = []   # encoder tasks: the model calls of the first call (see `record_calls`)
    t0 = time.perf_counter()
    with record_calls(task, framework, pipe, calls):
        outputs = call()
    first_s = time.perf_counter() - t0
    times = time_calls(call, spec["repeats"])
    out = dict(task=task, framework=framework, device=device, items=len(items), batch_size=batch,
               load_s=load_s, first_call_s=first_s, times_s=times, items_per_s=len(items) / statistics.median(times),
               peak_rss_mb=host_peak_rss_mb(), peak_device_mb=_device_peak(framework),
               outputs=digest(task, outputs))
    if task in ENCODER_TASKS:
        out["calls"] = calls
        if framework == "jaxnlp":
            from roofline import param_counts

            out["counts"] = param_counts(pipe.model.params, pipe.model.config)
    return out


@contextlib.contextmanager
def record_calls(task: str, framework: str, pipe, calls: list):
    """Record each model call of an encoder task as [rows, length, [tokens of
    each row that carries an item]]: the padded shape the framework computed
    and the work in it. jaxnlp: from `pad_batch` (rows added up to the batch
    bucket carry no item); PyTorch: a forward pre-hook on the model."""
    if task not in ENCODER_TASKS:
        yield
        return
    if framework == "jaxnlp":
        import numpy as np

        pad_batch = pipe.pad_batch

        def recording(arrays):
            padded, n = pad_batch(arrays)
            rows, length = padded["input_ids"].shape
            calls.append([int(rows), int(length), np.asarray(arrays["attention_mask"])[:n].sum(1).tolist()])
            return padded, n
        pipe.pad_batch = recording
        try:
            yield
        finally:
            del pipe.pad_batch
        return

    def hook(module, args, kwargs):
        ids, mask = kwargs.get("input_ids", args[0] if args else None), kwargs.get("attention_mask")
        rows, length = ids.shape
        calls.append([int(rows), int(length), mask.sum(1).tolist() if mask is not None else [int(length)] * rows])
    handle = pipe.model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def flops_of(counts: dict, calls: list) -> tuple[float, float]:
    """(useful, computed) FLOPs of recorded calls: useful counts each item-row
    at its own token count, computed the padded shapes (roofline.forward_cost,
    as the forward rows: every Dense kernel per token, attention per layer)."""
    from roofline import forward_cost

    useful = sum(forward_cost(counts, 1, n, 4)["flops"] for _, _, lengths in calls for n in lengths)
    computed = sum(forward_cost(counts, rows, length, 4)["flops"] for rows, length, _ in calls)
    return useful, computed


class TorchConversation:
    """The PyTorch side of the conversation task (transformers dropped its
    ConversationalPipeline in 4.42): DialoGPT's model-card recipe, batched
    as jaxnlp's conversation pipeline batches a first turn. Each text is
    encoded without special tokens and followed by eos, a batch is
    left-padded (mask 0 on the padding), `model.generate` writes the
    response, and each row's new ids up to the first eos are decoded with
    skip_special_tokens."""

    def __init__(self, directory: str, device: str, batch_size: int, **dtype):
        import transformers

        self.tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(directory, **dtype).to(device).eval()
        self.device, self.batch_size = device, batch_size
        eos = self.model.generation_config.eos_token_id
        self.eos = [eos] if isinstance(eos, int) else list(eos or [self.tokenizer.eos_token_id])

    def __call__(self, texts: list[str], **options) -> list[str]:
        import torch

        out, sep = [], self.eos[0]
        for k in range(0, len(texts), self.batch_size):
            rows = [self.tokenizer.encode(t, add_special_tokens=False) + [sep] for t in texts[k:k + self.batch_size]]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), sep, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, width - len(r):] = torch.tensor(r)
                mask[i, width - len(r):] = 1
            with torch.no_grad():
                seqs = self.model.generate(ids.to(self.device), attention_mask=mask.to(self.device),
                                           pad_token_id=sep, **options)
            for new in seqs[:, width:].tolist():
                ends = [i for i, t in enumerate(new) if t in self.eos]
                out.append(self.tokenizer.decode(new[:ends[0]] if ends else new, skip_special_tokens=True))
        return out


def _caller(task, framework, pipe, items, options):
    if task == "conversation" and framework == "jaxnlp":
        from jaxnlp.pipelines.conversation import ConversationManager

        def call():   # one turn of `len(items)` fresh conversations
            manager = ConversationManager()
            for text in items:
                manager.create(text)
            return list(pipe(manager, **options).values())
        return call
    if framework == "torch":
        import torch

        def call():
            with torch.no_grad():
                out = pipe(items, **options)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return out
        return call
    return lambda: pipe(items, **options)


def _device_peak(framework: str):
    from _common import jax_peak_mb, torch_peak_mb

    return jax_peak_mb() if framework == "jaxnlp" else torch_peak_mb()


def torch_python(task: str) -> str | None:
    """The interpreter of the PyTorch side: this one, or .venv457's where
    transformers 5 lacks the task (None when that venv is missing)."""
    if task not in NEEDS_457:
        return sys.executable
    return str(VENV457) if VENV457.exists() else None


def available(task: str) -> bool:
    import importlib.util

    module = {"qa": "question_answering", "summarization": "text2text", "translation": "text2text",
              "conversation": "conversation"}.get(task)
    return module is None or importlib.util.find_spec(f"jaxnlp.pipelines.{module}") is not None


def bench_task(task: str, directory: Path, *, quick: bool, repeats: int, dtype: str = "float32",
               new_tokens: int = NEW_TOKENS, log=print) -> dict:
    """Both sides of one task, each in a fresh process; the row run.py stores."""
    from _common import run_script

    if not available(task):
        log(f"pipelines {task}: skipped: not available")
        return dict(task=task, skipped="not available")
    spec = dict(task=task, dir=str(directory), quick=quick, repeats=repeats, dtype=dtype, new_tokens=new_tokens)
    row = dict(task=task, model=TASKS[task][1], pipeline=TASKS[task][0])
    row["jaxnlp"] = run_script(Path(__file__), {**spec, "framework": "jaxnlp"})
    python = torch_python(task)
    if python is not None:
        row["torch"] = run_script(Path(__file__), {**spec, "framework": "torch"}, python=python)
        row["speedup"] = row["jaxnlp"]["items_per_s"] / row["torch"]["items_per_s"]
        row["same_output"] = row["jaxnlp"]["outputs"] == row["torch"]["outputs"]
    else:
        row["note"] = "no PyTorch reference: run scripts/setup_ref457.sh"
    for side in ("jaxnlp", "torch"):
        if side in row:
            row[side].pop("outputs")
    if "counts" in row["jaxnlp"]:
        counts = row["jaxnlp"].pop("counts")
        row["useful_flops"], row["jaxnlp"]["computed_flops"] = flops_of(counts, row["jaxnlp"]["calls"])
        if "torch" in row:
            useful, row["torch"]["computed_flops"] = flops_of(counts, row["torch"]["calls"])
            row["useful_flops_match"] = useful == row["useful_flops"]
    j = row["jaxnlp"]
    msg = f"pipelines {task:13} jaxnlp {j['items_per_s']:8.1f} items/s (first call {j['first_call_s']:.2f} s)"
    if "torch" in row:
        msg += (f"  torch {row['torch']['items_per_s']:8.1f} items/s  speedup {row['speedup']:.2f}x  "
                f"same output: {row['same_output']}")
    log(msg)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--task", default=",".join(TASKS))
    ap.add_argument("--quick", action="store_true", help="tiny models, few items (smoke test)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--ckpt-dir", default=None, help="where the random checkpoints are kept (default: a temp dir)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(run_side(json.loads(args.worker))))
        return
    import tempfile

    from checkpoints import checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.ckpt_dir or tmp)
        rows = [bench_task(t, checkpoint(TASKS[t][1], CHECKPOINT_USE.get(t, t), root, args.quick), quick=args.quick,
                           repeats=args.repeats, dtype=args.dtype) for t in args.task.split(",")]
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
