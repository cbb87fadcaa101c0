"""Checkpoint directories for the pipeline parity tests: a tiny random
transformers model and a tokenizer trained here on a small corpus, both saved
with save_pretrained so transformers' pipelines and jaxnlp read the same files.

Tokenizers: WordPiece (BERT family), byte-level BPE (RoBERTa, GPT-2) and
SentencePiece (XLM-R), each trained with the `tokenizers` / `sentencepiece`
trainers; vocabularies of ~300 pieces."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import transformers

from support.tiny import make_model

WORDS = ("the quick brown fox jumps over lazy dog café naïve über straße 東京 hello world paris london "
         "great terrible movie film loved hated acting plot music city river mountain john mary smith "
         "works lives in at on for with and but not very really good bad").split()


def corpus(n_lines: int = 600, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    syllables = "ka ri to me su na lo be de fi gu ha ji ko lu mo ne pi ra se ti vu wa yo zu".split()
    words = list(WORDS) + ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(150)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) + rng.choice([".", "!", "?", ""])
            for _ in range(n_lines)]


def wordpiece_tokenizer(directory: Path):
    from tokenizers import BertWordPieceTokenizer

    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(corpus(), vocab_size=300, min_frequency=1)
    directory.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(directory))
    return _checked(transformers.BertTokenizerFast.from_pretrained(directory, do_lower_case=True,
                                                                   model_max_length=64))


def bytelevel_tokenizer(directory: Path, kind: str = "roberta"):
    from tokenizers import ByteLevelBPETokenizer

    trainer = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] if kind == "roberta" else ["<|endoftext|>"]
    trainer.train_from_iterator(corpus(), vocab_size=400, min_frequency=1, special_tokens=specials)
    directory.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(directory))
    cls = transformers.RobertaTokenizerFast if kind == "roberta" else transformers.GPT2TokenizerFast
    return _checked(cls.from_pretrained(directory, model_max_length=64))


def sentencepiece_tokenizer(directory: Path):
    import sentencepiece as spm

    directory.mkdir(parents=True, exist_ok=True)
    text = directory / "corpus.txt"
    text.write_text("\n".join(corpus()), encoding="utf-8")
    spm.set_random_generator_seed(0)
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(directory / "spm"), vocab_size=300,
                                   model_type="bpe", character_coverage=1.0, minloglevel=2, num_threads=1)
    text.unlink()
    (directory / "spm.model").rename(directory / "sentencepiece.bpe.model")
    return _checked(transformers.XLMRobertaTokenizer.from_pretrained(directory, model_max_length=64))


def _checked(tok):
    assert len(tok) >= 250, f"the trained vocabulary did not load: {len(tok)} tokens"
    return tok


TOKENIZERS = {"bert": wordpiece_tokenizer, "roberta": bytelevel_tokenizer, "xlm-roberta": sentencepiece_tokenizer}


def checkpoint(model_type: str, task: str, directory: Path, seed: int = 0, **overrides):
    """(directory, transformers model): a tiny `model_type` model for `task`
    with a trained tokenizer, both saved in `directory`."""
    tok = TOKENIZERS[model_type](directory / "_tok")
    model = make_model(model_type, task, seed=seed, vocab_size=len(tok), **overrides)
    if model_type in ("roberta", "xlm-roberta"):
        model.config.pad_token_id = tok.pad_token_id
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory, model


def hf_pipeline(task: str, directory: Path, **kwargs):
    return transformers.pipeline(task, model=str(directory), tokenizer=str(directory), device="cpu", **kwargs)


def assert_refuses_bad_lists(pipe, unknown_option: dict, item="a"):
    """What every pipeline refuses before any work (jaxnlp.pipelines.base):
    an empty list, a non-str item (naming its index), a bare non-list input,
    and an unknown option."""
    with pytest.raises(ValueError, match="empty"):
        pipe([])
    with pytest.raises(TypeError, match="item 2"):
        pipe([item, item, 3])
    with pytest.raises(TypeError, match="takes a"):
        pipe(42)
    with pytest.raises(TypeError, match="unknown option"):
        pipe(item, **unknown_option)


torch.set_grad_enabled(False)


def assert_same_entities(ours, ref, tol: float = 1e-4):
    """Token-classification results (lists of entity dicts, nested per item):
    the same entities in the same order, keys, labels, words, offsets (and
    index) exactly, scores within `tol`."""
    assert isinstance(ours, list) and len(ours) == len(ref), (ours, ref)
    for o, r in zip(ours, ref):
        if isinstance(r, list):
            assert_same_entities(o, r, tol)
            continue
        assert list(o) == list(r), (o, r)
        assert {k: v for k, v in o.items() if k != "score"} == {k: v for k, v in r.items() if k != "score"}, (o, r)
        assert type(o["score"]) is float and abs(o["score"] - float(r["score"])) <= tol, (o, r)
        assert all(type(o[k]) is int for k in ("start", "end")), o
