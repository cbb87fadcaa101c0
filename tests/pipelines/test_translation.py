"""translation against transformers 4.57's TranslationPipeline (5.x dropped
it) on the committed tiny checkpoints of tests/fixtures/seq2seq/ (Marian
with source/target SentencePiece models, T5 with task_specific_params,
mBART-50 and M2M100 with language codes): translation_text and
translation_token_ids exactly, for greedy and beam search, batches of
texts of different lengths, num_return_sequences, length overrides and
truncation. The reference outputs were written by
scripts/fixtures/seq2seq_ref457.py; see jaxnlp/pipelines/text2text.py for
where we differ from 4.57 (and why)."""

import pytest

import jaxnlp
from jaxnlp.errors import InputTooLongError
from support.seq2seq_fixtures import ROOT, case, case_ids, cases, encoder_ids, first_results, pipeline_for, run

TASK = "translation"


@pytest.mark.parametrize("name", case_ids(TASK))
def test_matches_transformers_457(name):
    c = case(TASK, name)
    assert encoder_ids(c) == c["input_ids"]           # prefix, language codes, truncation
    assert run(c) == c["output"]


def test_reference_outputs_vary():
    """Parity means something: outputs differ across inputs (checked when written, too)."""
    for c in cases(TASK):
        firsts = first_results(c["output"])
        assert len(set(firsts)) == len(firsts), c["id"]


def test_language_codes_and_task_params():
    mbart = case(TASK, "mbart50-call-langs")
    fr = pipeline_for(mbart).tokenizer.get_lang_id("fr_XX")
    assert all(r["translation_token_ids"][1] == fr for r in mbart["output"])   # forced BOS: the call's tgt_lang
    t5 = case(TASK, "t5-en-fr-prefix")
    assert pipeline_for(t5)._prefix == "translate English to French: "
    assert pipeline_for(case(TASK, "t5-en-de-no-params"))._prefix == ""    # no params for en_to_de: plain input
    assert pipeline_for(case(TASK, "t5-translation-first-key"))._task_key == "translation_en_to_fr"


def test_truncation_warns_by_default_and_can_raise():
    c = case(TASK, "marian-truncation")          # 4.57 with truncation=True
    options = {k: v for k, v in c["options"].items() if k != "truncation"}
    pipe = pipeline_for(c)
    with pytest.warns(UserWarning, match="truncated"):
        assert pipe(c["inputs"], **options) == c["output"]
    with pytest.raises(InputTooLongError, match="128"):
        pipe(c["inputs"], truncation=False, **options)


@pytest.fixture(scope="module")
def marian():
    return pipeline_for(case(TASK, "marian-defaults"))


def test_bad_inputs(marian):
    with pytest.raises(ValueError, match="empty"):
        marian([])
    with pytest.raises(TypeError, match="item 1"):
        marian(["hello", 3])
    with pytest.raises(TypeError, match="item 0"):
        marian([None])
    with pytest.raises(TypeError, match="unknown option"):
        marian("hello", num_beam=2)
    with pytest.raises(ValueError, match="truncation"):
        marian("hello", truncation="sometimes")
    with pytest.raises(InputTooLongError):          # a length the decoder cannot hold
        marian("hello", max_new_tokens=500, num_beams=1)
    # "" translates (its only token is </s>), as in 4.57: see the marian-defaults case


def test_multilingual_needs_known_languages():
    mbart, m2m = ROOT / "mbart50", ROOT / "m2m100"
    for directory in (mbart, m2m):
        pipe = jaxnlp.pipeline(TASK, model=directory)
        with pytest.raises(ValueError, match="src_lang and tgt_lang"):
            pipe("hello")
    with pytest.raises(ValueError, match="'xx_YY'"):
        jaxnlp.pipeline(TASK, model=mbart, src_lang="en_XX", tgt_lang="xx_YY")
    with pytest.raises(ValueError, match="'en'"):           # mBART-50 codes are en_XX, ...
        jaxnlp.pipeline("translation_en_to_fr", model=mbart)
    pipe = pipeline_for(case(TASK, "m2m100-alias"))
    with pytest.raises(ValueError, match="'klingon'"):
        pipe("hello", tgt_lang="klingon")
    with pytest.raises(TypeError, match="tgt_lang"):
        pipe("hello", tgt_lang=3)
