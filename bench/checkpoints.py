"""The random checkpoints every benchmark runs on: real sizes (bert-base,
distilbert, gpt2, bart-base, t5-small, opus-mt marian) or tiny ones
(`quick`), saved with transformers 5 so both sides read the same files.

    checkpoint(name, use, root, quick) -> directory

`use` picks the head and the files: "base" (the bare backbone, forward
suite), "generate" (LM head, eos unset so both sides write every token; the
configs of bench/generate.py), or a pipeline task (sentiment, ner, qa,
summarization, translation, conversation) with a tokenizer. Tokenizers are
built here, offline: GPT-2's real vocabulary (tests/fixtures) for gpt2 and,
renumbered the RoBERTa way, for bart; a WordPiece vocabulary of the benchmark
words for bert/distilbert (one token per word); a SentencePiece model trained
on the benchmark texts for marian (a few hundred pieces; the model keeps its
real 59514-row vocabulary, ids past the tokenizer's decode as <unk> on both
sides). Tokenizer files are written by hand (no save_pretrained) so that
transformers 4.57 reads them too. A directory is reused when it is complete
(a `.done` marker), so repeated runs skip the saving.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from _common import ROOT, WORDS, texts

GPT2_TOK = ROOT / "tests" / "fixtures" / "tokenizers" / "gpt2"
TINY_BERT = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
SIZES = {   # (real, tiny) keyword arguments of the transformers config
    "bert-base": (dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
                  TINY_BERT),
    "distilbert": (dict(dim=768, n_layers=6, n_heads=12, hidden_dim=3072),
                   dict(dim=128, n_layers=2, n_heads=2, hidden_dim=512)),
    "gpt2": (dict(n_embd=768, n_layer=12, n_head=12), dict(n_embd=64, n_layer=2, n_head=2)),
    "bart-base": (dict(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
                       decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072),
                  dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                       decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128)),
}
SIZES["marian"] = (dict(SIZES["bart-base"][0], d_model=512, encoder_attention_heads=8, decoder_attention_heads=8,
                        encoder_ffn_dim=2048, decoder_ffn_dim=2048), SIZES["bart-base"][1])
NER_LABELS = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
PIPELINE_MODELS = {"sentiment": "distilbert", "ner": "bert-base", "qa": "distilbert",
                   "summarization": "bart-base", "translation": "marian", "conversation": "gpt2"}


def checkpoint(name: str, use: str, root: Path, quick: bool = False) -> Path:
    directory = Path(root) / f"{name}-{use}-{'tiny' if quick else 'real'}"
    if (directory / ".done").exists():
        return directory
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    if use == "generate":
        import generate

        generate.make_checkpoint(name, directory, quick)
    else:
        _build(name, use, directory, quick)
    (directory / ".done").write_text("")
    return directory


def _build(name: str, use: str, directory: Path, quick: bool) -> None:
    import torch
    import transformers as T

    torch.manual_seed(0)
    size = SIZES[name][1 if quick else 0]
    gen = {}
    if name in ("bert-base", "distilbert"):
        vocab = _wordpiece(directory, "BertTokenizer" if name == "bert-base" else "DistilBertTokenizer")
        config = (T.BertConfig(vocab_size=30522, **size) if name == "bert-base"
                  else T.DistilBertConfig(vocab_size=30522, **size))
        config.pad_token_id = vocab.index("[PAD]")
        if use == "sentiment":
            config.num_labels, config.id2label = 2, {0: "NEGATIVE", 1: "POSITIVE"}
            config.label2id = {v: k for k, v in config.id2label.items()}
        elif use == "ner":
            config.id2label = dict(enumerate(NER_LABELS))
            config.label2id = {v: k for k, v in config.id2label.items()}
        cls = {"base": T.AutoModel, "sentiment": T.AutoModelForSequenceClassification,
               "ner": T.AutoModelForTokenClassification, "qa": T.AutoModelForQuestionAnswering}[use]
    elif name == "gpt2":
        for f in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(GPT2_TOK / f, directory / f)
        config = T.GPT2Config(vocab_size=50257, n_positions=1024, bos_token_id=50256, eos_token_id=50256,
                              pad_token_id=50256, **size)
        cls = T.AutoModel if use == "base" else T.GPT2LMHeadModel
        gen = dict(bos_token_id=50256, eos_token_id=50256, pad_token_id=50256)
    elif name == "bart-base":
        _roberta_layout(directory)
        config = T.BartConfig(vocab_size=50265, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                              decoder_start_token_id=2, forced_bos_token_id=0, forced_eos_token_id=2, **size)
        cls = T.BartForConditionalGeneration
        gen = dict(bos_token_id=0, eos_token_id=2, pad_token_id=1, decoder_start_token_id=2, forced_bos_token_id=0,
                   forced_eos_token_id=2, num_beams=4, no_repeat_ngram_size=3, length_penalty=2.0,
                   early_stopping=True)
    elif name == "marian":
        pad = _marian_spm(directory)
        config = T.MarianConfig(vocab_size=59514, decoder_vocab_size=59514, pad_token_id=pad, eos_token_id=0,
                                decoder_start_token_id=pad, forced_eos_token_id=0, scale_embedding=True,
                                activation_function="swish", max_position_embeddings=512, **size)
        cls = T.MarianMTModel
        gen = dict(pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=0,
                   bad_words_ids=[[pad]], num_beams=4, max_length=512)
    else:
        raise SystemExit(f"no {use!r} checkpoint for {name!r}")
    model = cls.from_config(config) if cls in (T.AutoModel, T.AutoModelForSequenceClassification,
                                               T.AutoModelForTokenClassification,
                                               T.AutoModelForQuestionAnswering) else cls(config)
    model.save_pretrained(directory)
    if gen:
        T.GenerationConfig(**gen).save_pretrained(directory)


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _wordpiece(directory: Path, tokenizer_class: str) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?", "!"] + sorted(set(WORDS))
             + list(letters) + ["##" + c for c in letters])
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    _write_json(directory / "tokenizer_config.json", {"tokenizer_class": tokenizer_class, "do_lower_case": True,
                                                      "model_max_length": 512})
    return vocab


def _roberta_layout(directory: Path) -> None:
    """GPT-2's byte-level BPE renumbered as roberta-base/bart-base number it."""
    gpt2 = json.loads((GPT2_TOK / "vocab.json").read_text(encoding="utf-8"))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    vocab.update({token: i + 4 for token, i in gpt2.items()})
    vocab["<mask>"] = len(vocab)
    _write_json(directory / "vocab.json", vocab)
    shutil.copy(GPT2_TOK / "merges.txt", directory / "merges.txt")
    _write_json(directory / "tokenizer_config.json", {"tokenizer_class": "BartTokenizer", "add_prefix_space": False,
                                                      "model_max_length": 1024})


def _marian_spm(directory: Path) -> int:
    """source.spm = target.spm trained on the benchmark texts; vocab.json:
    </s> 0, <unk> 1, the pieces, >>fr<<, <pad> last. Returns the pad id."""
    import sentencepiece as spm

    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(texts(3000, 12, seed=1)), encoding="utf-8")
    spm.set_random_generator_seed(0)
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(directory / "source"), vocab_size=400,
                                   model_type="unigram", eos_id=0, unk_id=1, bos_id=-1, pad_id=-1,
                                   hard_vocab_limit=False, minloglevel=2, num_threads=1)
    corpus.unlink()
    (directory / "source.model").rename(directory / "source.spm")
    (directory / "source.vocab").unlink()
    shutil.copy(directory / "source.spm", directory / "target.spm")
    sp = spm.SentencePieceProcessor(model_file=str(directory / "source.spm"))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    vocab[">>fr<<"] = len(vocab)
    vocab["<pad>"] = len(vocab)
    _write_json(directory / "vocab.json", vocab)
    _write_json(directory / "tokenizer_config.json", {"tokenizer_class": "MarianTokenizer", "source_lang": "en",
                                                      "target_lang": "fr", "model_max_length": 512,
                                                      "eos_token": "</s>", "unk_token": "<unk>",
                                                      "pad_token": "<pad>"})
    return vocab["<pad>"]
