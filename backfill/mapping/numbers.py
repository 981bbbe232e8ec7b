"""Numbers written for people, made plain before `as: int|float` reads them: `thousands:`,
`decimal:` and `currency:` (`model.NumberFormat`). Pure."""

from __future__ import annotations

import polars as pl

from backfill.mapping.model import NumberFormat


def number_text(expr: pl.Expr, fmt: NumberFormat) -> pl.Expr:
    """Text written for people made plain (`1,234.50` -> `1234.50`); null where it is not a
    number so written (`1,2,3`, a letter), which then rejects its row with the value."""
    text = expr.str.strip_chars()
    if fmt.currency:  # any currency sign, and a three-letter code (USD, EUR) standing alone
        text = text.str.replace_all(r"\p{Sc}|\b[A-Z]{3}\b", "").str.strip_chars()
        text = text.str.replace(r"^([+-])\s+", "$1")  # "- 5" once "-$5" lost its sign
    sep, dec = (_literal(c) for c in (fmt.thousands or "", fmt.decimal))
    grouped = rf"\d{{1,3}}(?:{sep}\d{{3}})+|" if fmt.thousands else ""
    shape = rf"^[+-]?(?:{grouped}\d+)(?:{dec}\d+)?$|^[+-]?{dec}\d+$"
    plain = text.str.replace_all(fmt.thousands, "", literal=True) if fmt.thousands else text
    if fmt.decimal != ".":
        plain = plain.str.replace(fmt.decimal, ".", literal=True)
    return pl.when(text == "").then(text).when(text.str.contains(shape)).then(plain)


def _literal(text: str) -> str:
    """`text` matched as itself in polars' (Rust's) regular expressions."""
    return "".join(f"\\x{{{ord(c):x}}}" for c in text)
