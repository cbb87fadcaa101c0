"""summarization against transformers 4.57's SummarizationPipeline (5.x
dropped it) on the committed tiny checkpoints of tests/fixtures/seq2seq/:
BART (generation config as bart-large-cnn's), T5 ("summarize: " and the
lengths of task_specific_params["summarization"]) and Pegasus: summary_text
and summary_token_ids exactly, with the checkpoint defaults applied as 4.57
applies them, greedy and beam search, overrides, num_return_sequences and
truncation. The reference outputs were written by
scripts/fixtures/seq2seq_ref457.py."""

import pytest

from jaxnlp.errors import InputTooLongError
from support.seq2seq_fixtures import case, case_ids, cases, encoder_ids, first_results, pipeline_for, run

TASK = "summarization"
# 4.57 lets the pipeline's max_new_tokens=256 win over T5's max_length (task_specific_params or the call's):
# these cases run a beam search (length_penalty 2.0) for ~256 steps; with this tiny model's near-uniform
# log-probs, beam scores meet exact float32 ties there, which torch.topk and lax.top_k break differently
# (the settings the pipeline passes are checked in test_checkpoint_defaults_as_457; t5-summarize-new-tokens
# runs the same settings over 20 steps and matches).
LONG_BEAM_SEARCH = {"t5-summarize-defaults", "t5-summarize-max-length"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(
    strict=True, reason="exact float32 ties between beam scores, broken differently: e.g. t5-summarize-defaults "
    "row 0, step 110, two candidates for the last running beam both score -557.7419 (bitwise equal in torch and "
    "jaxnlp; re-summed in float64 they differ by 7.8e-5, while float32 eps*|x| there is 6.6e-5, ulp 6.1e-5): "
    "torch.topk keeps the later index (order unspecified), lax.top_k the earlier; every diverging row starts so"))
    if n in LONG_BEAM_SEARCH else n for n in case_ids(TASK)])
def test_matches_transformers_457(name):
    c = case(TASK, name)
    assert encoder_ids(c) == c["input_ids"]
    assert run(c) == c["output"]


def test_reference_outputs_vary():
    for c in cases(TASK):
        firsts = first_results(c["output"])
        assert len(set(firsts)) == len(firsts), c["id"]


def test_checkpoint_defaults_as_457():
    """4.57 quirks, kept: the pipeline's num_beams=4 beats the checkpoint's (BART's 2); a max_length
    of the checkpoint drops the pipeline's max_new_tokens=256, one of task_specific_params does not."""
    bart = pipeline_for(case(TASK, "bart-defaults"))
    assert bart._generation["num_beams"] == 4 and "max_new_tokens" not in bart._generation
    assert bart._generation["max_length"] == 32 and bart._generation["min_length"] == 8
    t5 = pipeline_for(case(TASK, "t5-summarize-defaults"))
    assert t5._prefix == "summarize: "
    assert t5._generation["max_new_tokens"] == 256 and t5._generation["max_length"] == 40
    assert t5._generation["no_repeat_ngram_size"] == 3
    pegasus = pipeline_for(case(TASK, "pegasus-defaults"))
    assert pegasus._generation["num_beams"] == 3 and pegasus._generation["length_penalty"] == 0.6


def test_truncation_warns_by_default_and_can_raise():
    c = case(TASK, "bart-truncation")
    options = {k: v for k, v in c["options"].items() if k != "truncation"}
    pipe = pipeline_for(c)
    with pytest.warns(UserWarning, match="truncated"):
        assert pipe(c["inputs"], **options) == c["output"]
    with pytest.raises(InputTooLongError):
        pipe(c["inputs"], truncation="do_not_truncate", **options)


def test_bad_inputs():
    pipe = pipeline_for(case(TASK, "bart-defaults"))
    with pytest.raises(ValueError, match="empty"):
        pipe([])
    with pytest.raises(TypeError, match="item 2"):
        pipe(["a text", "another", b"bytes"])
    with pytest.raises(TypeError, match="takes a text"):
        pipe(42)
    with pytest.raises(TypeError, match="unknown option"):
        pipe("a text", src_lang="en")          # summarization has no languages
    with pytest.raises(ValueError, match="num_return_sequences"):
        pipe("a text", num_beams=2, num_return_sequences=3)
    # "" summarizes (<s></s> goes in), as in 4.57: see the bart-defaults case
