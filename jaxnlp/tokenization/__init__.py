"""One Tokenizer over the `tokenizers` library.

    tok = load_tokenizer("path/or/hub-id")
    enc = tok(["a text", "another"])   # numpy int32 arrays, padded to a length bucket
"""

from jaxnlp.tokenization.loading import load_tokenizer
from jaxnlp.tokenization.tokenizer import Tokenizer

__all__ = ["load_tokenizer", "Tokenizer"]
