"""``text(template, *columns)``: ``pl.format``'s result, built with ``pl.concat_str``.

``pl.format`` can panic inside polars on string views ("assertion failed: i < self.len()",
pola-rs/polars#25339 and #25525, still open on polars 1.35–2.1); the soak run hit it in the
worker. ``concat_str`` builds the same strings (a null argument makes the result null, as
``pl.format`` does) without that code path. Pure: polars only.
"""

from __future__ import annotations

import polars as pl

__all__ = ["text"]


def text(template: str, *args: str | pl.Expr) -> pl.Expr:
    """The expression ``pl.format(template, *args)`` would be (``{}`` placeholders)."""
    pieces = template.split("{}")
    if len(pieces) != len(args) + 1:
        raise ValueError(f"{len(pieces) - 1} placeholder(s) for {len(args)} argument(s)")
    parts: list[pl.Expr] = []
    for piece, arg in zip(pieces, [*args, None], strict=True):
        if piece:
            parts.append(pl.lit(piece, dtype=pl.String))
        if arg is not None:
            parts.append((pl.col(arg) if isinstance(arg, str) else arg).cast(pl.String))
    return pl.concat_str(parts) if parts else pl.lit("", dtype=pl.String)
