"""Bytes to text: UTF-8 when it is, otherwise whatever charset-normalizer finds; binaries refused."""
from __future__ import annotations

import codecs

# Enough bytes to tell the encoding; detecting over a whole large file is slow and no surer.
SNIFF_BYTES = 256 * 1024
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


WESTERN = ("cp1252", "latin_1", "iso8859_15")
NEAR_TIE = 0.1


class NotText(ValueError):
    """The bytes are not text in any encoding we can recognise."""


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return control > max(8, len(sample) // 100)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding name). Raises NotText for binary content."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name, errors="replace"), name
    sample = data[:SNIFF_BYTES]
    if _looks_binary(sample):
        raise NotText("binary content")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        raise NotText("no text encoding fits")
    encoding = best.encoding
    # Short texts fit several legacy code pages about equally well; Windows-1252 (Western Europe)
    # is by far the most common of them, so it wins a near tie.
    if any(m.encoding in WESTERN for m in matches if m.chaos <= best.chaos + NEAR_TIE):
        encoding = "cp1252"
    return data.decode(encoding, errors="replace"), encoding
