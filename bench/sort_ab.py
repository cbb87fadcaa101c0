"""Length-sorted chunks on and off: one jaxnlp pipeline over the same items,
`sort_by_length=True` (the default) vs False, in one process, alternating
`--rounds` times (a drifting VM); items/s from the median of `--repeats`
timed calls after a first (compiling) call, and the padded tokens each
order computes over the items' own tokens.

    .venv/bin/python bench/sort_ab.py [--task sentiment-mixed] [--ckpt-dir /tmp/jaxnlp-bench]

Tasks and checkpoints are bench/pipelines.py's (sentiment-mixed: distilbert
sentiment over 64 items of 4-96 words, batch 16).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="sentiment-mixed")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ckpt-dir", default=None, help="where the random checkpoints are kept (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="tiny models, few items (smoke test)")
    args = ap.parse_args()

    import jaxnlp
    import pipelines as P
    from checkpoints import checkpoint

    if args.task not in P.ENCODER_TASKS:
        raise SystemExit(f"--task: one of {', '.join(sorted(P.ENCODER_TASKS))}")
    name, model, _, _, batch = P.TASKS[args.task]
    items = P.inputs(args.task, args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        directory = checkpoint(model, P.CHECKPOINT_USE.get(args.task, args.task), Path(args.ckpt_dir or tmp),
                               args.quick)
        pipes = {sort: jaxnlp.pipeline(name, model=directory, batch_size=batch, sort_by_length=sort)
                 for sort in (True, False)}
        options = {"aggregation_strategy": "simple"} if args.task == "ner" else {}
        padding = {}
        for sort, pipe in pipes.items():   # first calls (compiles), recording the padded shapes
            calls: list = []
            with P.record_calls(args.task, "jaxnlp", pipe, calls):
                pipe(items, **options)
            useful = sum(n for _, _, lengths in calls for n in lengths)
            padding[sort] = sum(rows * length for rows, length, _ in calls) / useful
        rates = {True: [], False: []}
        for r in range(args.rounds):
            for sort, pipe in pipes.items():
                times = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    pipe(items, **options)
                    times.append(time.perf_counter() - t)
                rates[sort].append(len(items) / statistics.median(times))
                print(f"round {r} sort_by_length={sort}: {rates[sort][-1]:.1f} items/s "
                      f"(padded / item tokens {padding[sort]:.2f})", flush=True)
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"{args.task}: sorted {on:.1f} items/s, input order {off:.1f} items/s: {on / off:.2f}x")


if __name__ == "__main__":
    main()
