"""Text normalisation for search: case, Persian/Arabic letter variants and digits.

Stored search columns and search terms go through the same function, so "علي" finds "علی",
"۰۹۱۲" finds "0912", and "JOHN" finds "john".
"""

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
