"""The `jaxnlp` command.

    jaxnlp convert SRC DST [--task TASK] [--param-dtype bfloat16]
    jaxnlp run TASK [--model M] [--batch-size N] [--dtype D] [--option KEY=VALUE ...]
                    [--input FILE] [--output FILE] [--format auto|text|jsonl]

`run` reads one input per line (stdin or --input), runs the pipeline and
writes one JSON line per input (stdout or --output), in input order:

- input lines: `--format text`: each line is a text, as is (only the line
  break is removed). `--format jsonl`: each line is a JSON value, a string
  or, for tasks that take dicts, an object (question-answering:
  {"question": ..., "context": ...}; text-classification pairs: {"text":
  ..., "text_pair": ...}). `--format auto` (the default): a line whose
  first non-blank character is `{`, `[` or `"` is JSON (and must parse),
  any other line is text. A text starting with one of those characters
  needs `--format text`.
- blank lines (empty or only whitespace) are an error naming the line, in
  every format: skipping them would break the line-for-line match between
  inputs and outputs. An empty text can still be given as the JSON `""`.
- conversation: a line is a user input starting a new conversation, or an
  object with `new_user_input` and optionally `past_user_inputs` /
  `generated_responses`; the output line is {"response", "past_user_inputs",
  "generated_responses"}, the updated state to feed back with a new input.
- `--option KEY=VALUE` (repeatable) is a task option (`top_k=2`,
  `aggregation_strategy=simple`, `src_lang=en`); VALUE is read as JSON
  when it parses (2, null, true, [1, 2], "2"), as a string otherwise.
- without `--model` the catalogue's default for the task is fetched from
  the hub (weights/README.md).
- streaming: inputs are read and run in blocks of 4 x batch-size lines, and
  each block's results are written (and flushed) before the next is read,
  so any input size runs in constant memory. An error (a bad line, an input
  the pipeline refuses) stops the run with exit status 1 and a message on
  stderr; the results of every line before the failing block are written.
  Usage errors (unknown task, bad --option) exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# config.json `architectures` suffix -> task
_ARCH_TASKS = (("ForSequenceClassification", "sequence-classification"),
               ("ForTokenClassification", "token-classification"),
               ("ForQuestionAnswering", "question-answering"),
               ("ForMaskedLM", "masked-lm"), ("ForPreTraining", "masked-lm"),
               ("ForCausalLM", "causal-lm"), ("LMHeadModel", "causal-lm"),
               ("ForConditionalGeneration", "seq2seq-lm"), ("MTModel", "seq2seq-lm"))

FORMATS = ("auto", "text", "jsonl")
BLOCK_BATCHES = 4       # a block is this many pipeline batches (fewer than the pipeline's progress-bar threshold)
_PIPELINE_ARGS = {"model", "tokenizer", "batch_size", "dtype", "param_dtype", "revision", "mesh", "task"}


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


# -- run ---------------------------------------------------------------------------------------

class InputError(ValueError):
    """A line of `jaxnlp run`'s input that cannot be an input."""


def parse_option(text: str) -> tuple[str, object]:
    """`KEY=VALUE` -> (KEY, VALUE read as JSON when it parses, else the string)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"--option takes KEY=VALUE with KEY a name such as top_k, got {text!r}")
    if key in _PIPELINE_ARGS:
        raise ValueError(f"--option {key}=... is not a task option; use --{key.replace('_', '-')} where it exists")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def read_inputs(lines, fmt: str = "auto"):
    """(line number, input) for each line of `lines`; see the module doc for the formats."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            raise InputError(f"line {number} is blank; every line must be one input (an empty text is the "
                             'JSON line "" with --format jsonl or auto)')
        if fmt == "jsonl" or (fmt == "auto" and line.lstrip()[0] in '{["'):
            try:
                yield number, json.loads(line)
            except ValueError as e:
                hint = " (a text starting with {, [ or \" needs --format text)" if fmt == "auto" else ""
                raise InputError(f"line {number} is not valid JSON: {e}{hint}") from None
        else:
            yield number, line


def _blocks(numbered, size: int):
    """[(first line number, [inputs])] of at most `size` inputs; a bad line
    first yields the block read so far, then raises."""
    first, block = None, []
    try:
        for number, item in numbered:
            first = number if not block else first
            block.append(item)
            if len(block) == size:
                yield first, block
                block = []
    except InputError:
        if block:
            yield first, block
        raise
    if block:
        yield first, block


def to_json(result) -> str:
    """One result as a JSON line: numpy / jax arrays as (nested) lists, numpy scalars as numbers."""
    import numpy as np

    def default(x):
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, (tuple, set, frozenset)):
            return list(x)
        if hasattr(x, "__array__"):
            return np.asarray(x).tolist()
        raise TypeError(f"a {type(x).__name__} in the result cannot be written as JSON")

    if hasattr(result, "__array__") and not isinstance(result, (list, dict, str)):
        result = np.asarray(result).tolist()
    return json.dumps(result, ensure_ascii=False, default=default)


def _conversation_adapter():
    """Conversation inputs and outputs for the line format (see the module doc)."""
    from jaxnlp.pipelines.conversation import Conversation

    def run(pipe, items):
        conversations = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                conversations.append(Conversation(item))
            elif isinstance(item, dict):
                conversations.append(Conversation(**item))
            else:
                raise TypeError(f"conversation: item {i} is a {type(item).__name__}, expected a text or an "
                                "object with new_user_input")
        responses = pipe(conversations)
        return [{"response": responses.get(c.uuid), "past_user_inputs": c.past_user_inputs,
                 "generated_responses": c.generated_responses} for c in conversations]

    return run


def run(task: str, inputs, output, model=None, *, batch_size: int = 8, dtype: str = "float32",
        revision: str | None = None, options: dict | None = None, fmt: str = "auto") -> int:
    """Run `task` over the lines of `inputs` (an iterable of str), writing one
    JSON line per input to `output` (a text stream). Returns the number written."""
    from jaxnlp.pipelines import pipeline, resolve_task

    pipe = pipeline(task, model=model, batch_size=batch_size, dtype=dtype, revision=revision, **(options or {}))
    call = _conversation_adapter() if resolve_task(task) == "conversation" else (lambda p, items: p(items))
    written = 0
    for first, items in _blocks(read_inputs(inputs, fmt), batch_size * BLOCK_BATCHES):
        try:
            results = call(pipe, items)
        except (TypeError, ValueError) as e:
            raise InputError(f"input lines {first}-{first + len(items) - 1} (items numbered from 0 "
                             f"there): {e}") from e
        results = list(results)
        if len(results) != len(items):   # a pipeline that does not give one result per input
            raise RuntimeError(f"{task} gave {len(results)} results for {len(items)} inputs")
        output.write("".join(to_json(r) + "\n" for r in results))
        output.flush()
        written += len(results)
    return written


def _utf8(stream):
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(encoding="utf-8")
        except (ValueError, OSError):  # pragma: no cover - a stream already read from
            pass
    return stream


def _run_command(args, parser) -> int:
    from jaxnlp.errors import JaxnlpError
    from jaxnlp.pipelines import resolve_task

    try:
        resolve_task(args.task)
        options = {}
        for text in args.option:
            key, value = parse_option(text)
            if key in options:
                raise ValueError(f"--option {key} is given twice")
            options[key] = value
    except ValueError as e:
        parser.error(str(e))           # exit status 2, usage on stderr
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    source = sink = None
    try:
        source = _utf8(sys.stdin) if args.input == "-" else open(args.input, encoding="utf-8")
        sink = _utf8(sys.stdout) if args.output == "-" else open(args.output, "w", encoding="utf-8")
        run(args.task, source, sink, model=args.model, batch_size=args.batch_size, dtype=args.dtype,
            revision=args.revision, options=options, fmt=args.format)
    except BrokenPipeError:            # the reader went away (`| head`): not an error
        try:                           # keep the interpreter's final flush of stdout quiet
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0
    except (JaxnlpError, ValueError, TypeError, OSError) as e:
        print(f"jaxnlp run: error: {e}", file=sys.stderr)
        return 1
    finally:
        for stream, std in ((source, sys.stdin), (sink, sys.stdout)):
            if stream is not None and stream is not std:
                stream.close()
    return 0


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
    r = sub.add_parser("run", help="run a pipeline over lines of text or JSON, one JSON result per line",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("task", help="pipeline task or alias (sentiment-analysis, ner, translation_en_to_fr, ...)")
    r.add_argument("--model", default=None, help="checkpoint directory or hub id (default: the catalogue's)")
    r.add_argument("--revision", default=None, help="hub revision of --model (or of the default)")
    r.add_argument("--batch-size", type=int, default=8)
    r.add_argument("--dtype", default="float32", help="computation dtype: float32, bfloat16, ...")
    r.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="a task option")
    r.add_argument("--input", "-i", default="-", help="input file (default: stdin)")
    r.add_argument("--output", default="-", help="output file (default: stdout)")
    r.add_argument("--format", choices=FORMATS, default="auto", help="how to read input lines (default: auto)")
    args = parser.parse_args(argv)
    if args.command == "convert":
        from jaxnlp.errors import JaxnlpError
        try:
            out = convert(args.src, args.dst, task=args.task, param_dtype=args.param_dtype,
                          revision=args.revision)
        except (JaxnlpError, ValueError, TypeError, OSError) as e:   # as `run`: the message, no traceback
            print(f"jaxnlp convert: error: {e}", file=sys.stderr)
            return 1
        print(json.dumps({"converted": str(out)}))
    elif args.command == "run":
        return _run_command(args, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
