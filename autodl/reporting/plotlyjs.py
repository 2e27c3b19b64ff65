"""plotly.js, packed small enough to embed in every report.

The bundle plotly ships (``plotly.min.js``, ~4.8 MB) holds every trace type; plotly's
smaller bundles are not on PyPI. Packed here with LZMA (~1.1 MB) and written 7 bits per
character into a JavaScript string (~1.3 MB), it is unpacked by a small inline decoder
(``templates/plotly_loader.js``) before the page's first figure runs: the report stays
one file that works offline, at about a quarter of its old size. Browsers decode LZMA only
through script, so the decoder is plain JavaScript (synchronous: figures follow it in
document order as they followed the plain bundle).

Packing takes about a second; the result is cached on disk per plotly version
(``$XDG_CACHE_HOME/autodl``, else ``~/.cache/autodl``), and in memory.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import lzma
import os
from pathlib import Path

__all__ = ["pack", "plotly_loader", "unpack"]

logger = logging.getLogger(__name__)

#: 7-bit values a double-quoted JavaScript string inside an HTML <script> cannot hold as they
#: are: NUL (HTML replaces it), LF and CR (line ends), ``"`` (the quote), ``<`` (``</script>``)
#: and ``\`` (escapes). Each is written as the character 256 + value (two UTF-8 bytes).
_UNSAFE = frozenset((0, 10, 13, 34, 60, 92))
_FILTERS = [{"id": lzma.FILTER_LZMA1, "preset": 9 | lzma.PRESET_EXTREME, "lc": 3, "lp": 0, "pb": 0}]


def pack(data: bytes) -> str:
    """``data`` LZMA-compressed ("lzma alone") and spelled 7 bits per character."""
    import numpy as np

    compressed = lzma.compress(data, format=lzma.FORMAT_ALONE, filters=_FILTERS)
    bits = np.unpackbits(np.frombuffer(compressed, dtype=np.uint8))
    bits = np.concatenate([bits, np.zeros(-len(bits) % 7, dtype=np.uint8)])
    values = bits.reshape(-1, 7) @ (1 << np.arange(6, -1, -1))
    table = [chr(256 + v) if v in _UNSAFE else chr(v) for v in range(128)]
    return "".join(table[v] for v in values.tolist())


def unpack(packed: str) -> bytes:
    """The inverse of :func:`pack` (the decoder's reference, for tests)."""
    import numpy as np

    values = np.array([c - 256 if c > 255 else c for c in map(ord, packed)], dtype=np.uint8)
    bits = np.unpackbits(values[:, None], axis=1)[:, 1:].ravel()
    compressed = np.packbits(bits[: len(bits) // 8 * 8]).tobytes()
    return lzma.decompress(compressed, format=lzma.FORMAT_ALONE)


def plotly_loader() -> str:
    """A ``<script>`` element that defines ``Plotly`` (the installed plotly.js, packed)."""
    return f'<script type="text/javascript">{_loader_script()}</script>'


@functools.lru_cache(maxsize=1)
def _loader_script() -> str:
    from importlib import resources

    from plotly.offline import get_plotlyjs

    source = get_plotlyjs().encode("utf-8")
    template = resources.files("autodl.reporting").joinpath("templates", "plotly_loader.js").read_text("utf-8")
    head, tail = template.split('"{{PACKED}}", {{SIZE}}')
    return f'{head}"{_cached_pack(source)}", {len(source)}{tail}'


def _cached_pack(source: bytes) -> str:
    digest = hashlib.sha256(source).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autodl" / f"plotly-{digest}.lzma7"
    try:
        cached = cache.read_text(encoding="utf-8")
        if unpack(cached) == source:  # a damaged or foreign file is packed again
            return cached
    except (OSError, ValueError, lzma.LZMAError):
        pass
    packed = pack(source)
    try:
        from autodl.runs import atomic_write_text

        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, packed)
    except OSError as exc:  # a read-only home: pack again next time
        logger.debug("could not cache packed plotly.js in %s: %s", cache, exc)
    return packed
