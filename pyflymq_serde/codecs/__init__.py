"""Message codecs.  The built-in ones live in one module each and are imported only when used
(``pyflymq_serde.codecs.json:JsonCodec`` ...), so this package imports no optional dependency."""

from __future__ import annotations

from pyflymq_serde.codecs.base import BaseCodec, Codec, content_type_of

__all__ = ["BaseCodec", "Codec", "content_type_of"]
