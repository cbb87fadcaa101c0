"""Language codes of multilingual encoder-decoder tokenizers.

mBART puts the language after the text (`X </s> en_XX`), mBART-50 and M2M100
before it (`en_XX X </s>`, `__en__ X </s>`); the target side of a training
pair carries the target language the same way, and generation forces the
target language's id as the first generated token (`forced_bos_token_id`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# fairseq's language codes, in the order their tokens follow the vocabulary
MBART_CODES = ("ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN", "hi_IN", "it_IT",
               "ja_XX", "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP", "nl_XX", "ro_RO", "ru_RU", "si_LK",
               "tr_TR", "vi_VN", "zh_CN")
MBART50_CODES = MBART_CODES + ("af_ZA", "az_AZ", "bn_IN", "fa_IR", "he_IL", "hr_HR", "id_ID", "ka_GE", "km_KH",
                               "mk_MK", "ml_IN", "mn_MN", "mr_IN", "pl_PL", "ps_AF", "pt_XX", "sv_SE", "sw_KE",
                               "ta_IN", "te_IN", "th_TH", "tl_XX", "uk_UA", "ur_PK", "xh_ZA", "gl_ES", "sl_SI")
M2M100_CODES = {
    "m2m100": ("af", "am", "ar", "ast", "az", "ba", "be", "bg", "bn", "br", "bs", "ca", "ceb", "cs", "cy", "da", "de",
               "el", "en", "es", "et", "fa", "ff", "fi", "fr", "fy", "ga", "gd", "gl", "gu", "ha", "he", "hi", "hr",
               "ht", "hu", "hy", "id", "ig", "ilo", "is", "it", "ja", "jv", "ka", "kk", "km", "kn", "ko", "lb", "lg",
               "ln", "lo", "lt", "lv", "mg", "mk", "ml", "mn", "mr", "ms", "my", "ne", "nl", "no", "ns", "oc", "or",
               "pa", "pl", "ps", "pt", "ro", "ru", "sd", "si", "sk", "sl", "so", "sq", "sr", "ss", "su", "sv", "sw",
               "ta", "th", "tl", "tn", "tr", "uk", "ur", "uz", "vi", "wo", "xh", "yi", "yo", "zh", "zu"),
    "wmt21": ("en", "ha", "is", "ja", "cs", "ru", "zh", "de"),
}


@dataclass(frozen=True)
class LanguageCodes:
    """How a tokenizer marks the language of a text.

    `tokens`: language code -> its token ("en_XX" -> "en_XX", "en" -> "__en__"),
    in vocabulary order. `prefix`: the code's token goes before the text
    (`[code] X </s>`), else after the end of sequence (`X </s> [code]`).
    `default_source`: the source language when none is set. `target_defaults_to_source`:
    a target text without a target language takes the source language (mBART)
    rather than being an error (M2M100).
    """

    tokens: dict[str, str]
    prefix: bool
    default_source: str | None = None
    target_defaults_to_source: bool = True
    _by_token: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_token", {token: code for code, token in self.tokens.items()})

    def code(self, lang: str, what: str = "language code") -> str:
        """`lang` (a code, or a code's token such as "__en__") -> the code; ValueError if unknown."""
        if isinstance(lang, str):
            if lang in self.tokens:
                return lang
            if lang in self._by_token:
                return self._by_token[lang]
        known = list(self.tokens)
        shown = ", ".join(known[:12]) + (f", ... ({len(known)} in all)" if len(known) > 12 else "")
        raise ValueError(f"unknown {what} {lang!r}: this tokenizer knows {shown}; see its lang_code_to_id")


def language_codes(kind: str | None, config: dict) -> LanguageCodes | None:
    """The language codes of a tokenizer kind ("mbart", "mbart50", "m2m_100"), or None.
    `config` is tokenizer_config.json (M2M100's `language_codes` picks the set)."""
    if kind == "mbart":
        return LanguageCodes({c: c for c in MBART_CODES}, prefix=False, default_source="en_XX")
    if kind == "mbart50":
        return LanguageCodes({c: c for c in MBART50_CODES}, prefix=True, default_source="en_XX")
    if kind == "m2m_100":
        name = config.get("language_codes", "m2m100")
        if name not in M2M100_CODES:
            raise ValueError(f"tokenizer_config.json: unknown language_codes {name!r}, expected one of "
                             f"{sorted(M2M100_CODES)}")
        return LanguageCodes({c: f"__{c}__" for c in M2M100_CODES[name]}, prefix=True, default_source="en",
                             target_defaults_to_source=False)
    return None
