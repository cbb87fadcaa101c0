"""text-generation against transformers 5's pipeline on a tiny random GPT-2
with a trained byte-level BPE tokenizer: the same generated_text (and token
ids), exactly, for greedy and beam search. transformers runs the prompts one
by one; jaxnlp left-pads them into one generate call."""

import jax
import pytest

import jaxnlp
from jaxnlp.errors import InputTooLongError
from support.gen_pipelines import gpt2_checkpoint
from support.pipelines import hf_pipeline

# different lengths; "" is generated from the bos token (transformers does the same)
PROMPTS = ["the quick brown fox", "hello", "naïve café in 東京 with", ""]
GREEDY = dict(do_sample=False, max_new_tokens=10)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    directory, _, _ = gpt2_checkpoint(tmp_path_factory.mktemp("gpt2"))
    return directory, hf_pipeline("text-generation", directory), jaxnlp.pipeline("text-generation", model=directory)


def hf_each(hf, prompts, **options):
    return [hf(p, **options) for p in prompts]


@pytest.mark.parametrize("options", [GREEDY, dict(GREEDY, return_full_text=False),
                                     dict(num_beams=3, num_return_sequences=2, do_sample=False, max_new_tokens=8),
                                     dict(GREEDY, prefix="hello world ", repetition_penalty=1.3,
                                          no_repeat_ngram_size=2),
                                     dict(do_sample=False, max_length=22)])
def test_batch_matches_transformers(ckpt, options):
    _, hf, ours = ckpt
    ref = hf_each(hf, PROMPTS, **options)
    assert ours(PROMPTS, **options) == ref
    n = options.get("num_return_sequences", 1)
    assert all(len(r) == n for r in ref)
    texts = [x["generated_text"] for r in ref for x in r]
    assert len(set(texts)) == len(texts)                          # continuations depend on the prompt


def test_outputs_vary_and_tensors_match(ckpt):
    _, hf, ours = ckpt
    ref = hf_each(hf, PROMPTS[:3], return_tensors=True, **GREEDY)
    assert ours(PROMPTS[:3], return_tensors=True, **GREEDY) == ref
    for r in ref:                                                  # not one repeated token
        assert len(set(r[0]["generated_token_ids"][-10:])) >= 4, r
    assert ours(PROMPTS[0], **GREEDY) == hf(PROMPTS[0], **GREEDY)   # a single str: its list


def test_eos_ends_rows_early(ckpt):
    """With an eos that the model does generate, rows stop at different steps;
    each prompt's sequences are trimmed as transformers' unbatched output
    (checked with skip_special_tokens=False, which shows the pads)."""
    _, hf, ours = ckpt
    beam = dict(num_beams=3, num_return_sequences=2, do_sample=False, max_new_tokens=8)
    ids = hf(PROMPTS[0], return_tensors=True, **beam)[0]["generated_token_ids"]
    prompt_len = len(hf.tokenizer(PROMPTS[0])["input_ids"])
    eos = ids[prompt_len + 2]                                      # a token the model generates
    options = dict(beam, eos_token_id=eos, skip_special_tokens=False)
    prompts = PROMPTS[:3]     # not "": with an eos other than the pad (= bos) id, transformers masks the bos out
    ref = hf_each(hf, prompts, **options)
    assert ours(prompts, **options) == ref
    tensors = hf_each(hf, prompts, return_tensors=True, **dict(beam, eos_token_id=eos))
    assert ours(prompts, return_tensors=True, **dict(beam, eos_token_id=eos)) == tensors
    lengths = {len(x["generated_token_ids"]) - len(hf.tokenizer(p)["input_ids"])
               for p, r in zip(prompts, tensors) for x in r}
    assert min(lengths) < 8                                        # some stopped early


def test_sampling_is_reproducible(ckpt):
    _, _, ours = ckpt
    options = dict(do_sample=True, top_k=20, top_p=0.9, temperature=0.8, num_return_sequences=3, max_new_tokens=8)
    a = ours(PROMPTS[:2], rng=jax.random.PRNGKey(1), **options)
    assert a == ours(PROMPTS[:2], rng=jax.random.PRNGKey(1), **options)
    assert a != ours(PROMPTS[:2], rng=jax.random.PRNGKey(2), **options)
    assert [len(r) for r in a] == [3, 3] and all(x["generated_text"].startswith(p) for p, r in zip(PROMPTS, a)
                                                 for x in r)
    assert len({x["generated_text"] for x in a[0]}) > 1


def test_batch_size_does_not_change_greedy_results(ckpt):
    directory, _, ours = ckpt
    small = jaxnlp.pipeline("text-generation", model=directory, batch_size=3, **GREEDY)   # defaults at construction
    assert small(PROMPTS * 2) == ours(PROMPTS * 2, **GREEDY)


def test_bad_input(ckpt):
    directory, _, ours = ckpt
    with pytest.raises(ValueError, match="empty"):
        ours([])
    with pytest.raises(TypeError, match="item 2"):
        ours(["a", "b", 3], **GREEDY)
    with pytest.raises(ValueError, match="chat template"):    # a chat, but this checkpoint has no template
        ours([{"role": "user", "content": "hi"}])
    with pytest.raises(TypeError, match="takes a"):
        ours(42)
    with pytest.raises(TypeError, match="unknown option"):
        ours("a", max_new_token=3)
    with pytest.raises(ValueError, match="mutually exclusive"):
        ours("a", return_full_text=False, return_tensors=True)
    with pytest.raises(ValueError, match="num_return_sequences"):
        ours("a", do_sample=False, num_return_sequences=2, max_new_tokens=3)
    with pytest.raises(InputTooLongError):
        ours("hello", max_new_tokens=256)                          # the model has 40 positions
    with pytest.raises(TypeError, match="unknown option"):
        jaxnlp.pipeline("text-generation", model=directory, foo=1)
