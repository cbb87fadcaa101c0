"""The `jaxnlp` command.

    jaxnlp convert SRC DST [--task TASK] [--param-dtype bfloat16]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# config.json `architectures` suffix -> task
_ARCH_TASKS = (("ForSequenceClassification", "sequence-classification"),
               ("ForTokenClassification", "token-classification"),
               ("ForQuestionAnswering", "question-answering"),
               ("ForMaskedLM", "masked-lm"), ("ForPreTraining", "masked-lm"),
               ("ForCausalLM", "causal-lm"), ("LMHeadModel", "causal-lm"),
               ("ForConditionalGeneration", "seq2seq-lm"), ("MTModel", "seq2seq-lm"))


def task_from_config(config: dict) -> str:
    """The task a checkpoint was saved for, from config.json's `architectures`."""
    for name in config.get("architectures") or ():
        for suffix, task in _ARCH_TASKS:
            if name.endswith(suffix):
                return task
    return "base"


def convert(src: str, dst: str, task: str | None = None, param_dtype: str | None = None,
            revision: str | None = None) -> Path:
    """Convert a HF checkpoint (directory or hub id) into jaxnlp's format."""
    from jaxnlp.checkpoints import read_config, resolve_model_dir
    from jaxnlp.checkpoints.converted import check_destination, write_converted
    from jaxnlp.models.auto import load_model

    check_destination(dst)    # fail before loading (or downloading) anything
    model_dir = resolve_model_dir(src, revision=revision)
    task = task or task_from_config(read_config(model_dir))
    model = load_model(model_dir, task=task, param_dtype=param_dtype)
    return write_converted(dst, model.params, model_dir, task)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxnlp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", help="convert a Hugging Face checkpoint to jaxnlp's format")
    c.add_argument("src", help="model directory or hub id")
    c.add_argument("dst", help="new directory to write")
    c.add_argument("--task", default=None, help="head to convert (default: from config.json architectures)")
    c.add_argument("--param-dtype", default=None, help="float32, bfloat16, ... (default: the checkpoint's)")
    c.add_argument("--revision", default=None)
    args = parser.parse_args(argv)
    if args.command == "convert":
        out = convert(args.src, args.dst, task=args.task, param_dtype=args.param_dtype,
                      revision=args.revision)
        print(json.dumps({"converted": str(out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
