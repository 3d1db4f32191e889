"""Text normalisation for search: case, Persian/Arabic letter variants and digits.

Stored search columns and search terms go through the same function, so "علي" finds "علی",
"۰۹۱۲" finds "0912", and "JOHN" finds "john".
"""
import re

_TRANSLATION = str.maketrans(
    {
        "ي": "ی",  # Arabic yeh -> Persian yeh
        "ى": "ی",  # alef maksura -> Persian yeh
        "ك": "ک",  # Arabic kaf -> Persian keheh
        "ة": "ه",
        "\u200c": " ",  # zero-width non-joiner
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Persian digits
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic digits
    }
)


def normalize(text: str | None) -> str:
    if not text:
        return ""
    return " ".join(str(text).translate(_TRANSLATION).casefold().split())


def search_words(term: str | None) -> list[str]:
    return [w for w in normalize(term).split(" ") if w]


# Each normalized character and the raw characters that normalize to it.
_VARIANTS = {
    "ی": "یيى",
    "ک": "کك",
    "ه": "هة",
    **{str(i): f"{i}{chr(0x06F0 + i)}{chr(0x0660 + i)}" for i in range(10)},
}


def variant_pattern(word: str) -> str:
    """A regular expression (for ``__iregex``) that finds the normalized ``word`` in raw text
    that was never normalized (message content, titles): "قیمت" also matches "قيمت"."""
    return "".join(f"[{_VARIANTS[c]}]" if c in _VARIANTS else re.escape(c) for c in word)


def words_added(words: str, text: str | None) -> str:
    """``words`` (distinct normalized words joined by spaces, as Conversation.message_words
    keeps them) with the words of ``text`` it does not have yet, in order of appearance. A
    search word (no spaces) is a substring of ``text``'s normalized form exactly when it is a
    substring of one of its words, so ``LIKE '%word%'`` on the result finds what it finds in
    the text."""
    have = set(words.split(" ")) if words else set()
    new = [word for word in dict.fromkeys(search_words(text)) if word not in have]
    return " ".join(([words] if words else []) + new)


def words_of(texts) -> str:
    """The distinct normalized words of ``texts`` in order of first appearance: what
    ``words_added`` builds one text at a time, in one pass."""
    return " ".join(dict.fromkeys(word for text in texts for word in search_words(text)))
