"""Sizes in words, one way everywhere: "512 bytes", "8 KB", "1.5 MB" (1 KB = 1024 bytes,
as Django's ``filesizeformat`` counts on the pages)."""

from __future__ import annotations

_UNITS = ("KB", "MB", "GB", "TB")


def size_text(size: int | float, *, exact: bool = False) -> str:
    """``size`` bytes in words: whole units without a decimal ("300 MB"), others with one
    ("1.5 KB"); never "0.0 MB" for a small size. ``exact`` adds the byte count for
    documents that must carry it: "1.5 KB (1,536 bytes)"."""
    count = int(size)
    if count < 1024:
        return "1 byte" if count == 1 else f"{count:,} bytes"
    value = float(count)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    shown = f"{value:,.1f}".removesuffix(".0")
    return f"{shown} {unit} ({count:,} bytes)" if exact else f"{shown} {unit}"
