"""The error a handler raises to make the broker answer with an error frame.

The real server has three error-frame encodings (spec §6.1) and picks one per handler and per
failure, so the encoding travels with the text rather than being decided by a generic layer.
"""

from __future__ import annotations

from typing import Any

from pyflymq_core.protocol import CODED, RAW_FLAGGED, RAW_UNFLAGGED

__all__ = ["CODED", "RAW_FLAGGED", "RAW_UNFLAGGED", "BrokerError"]


class BrokerError(Exception):
    """Answer the current request with an error frame carrying ``text`` in ``encoding``."""

    def __init__(self, text: str, encoding: str = RAW_UNFLAGGED) -> None:
        super().__init__(text)
        self.text = text
        self.encoding = encoding

    def fields(self) -> dict[str, Any]:
        """The error-frame fields for ``encode_response``."""
        out: dict[str, Any] = {"error_encoding": self.encoding, "message": self.text}
        if self.encoding == CODED:
            out["code"] = 1
        return out

    @classmethod
    def coded(cls, text: str) -> BrokerError:
        """An error answered as a coded frame (code 1 + text): the handlers that use
        ``sendErrorResponse`` on the server (auth, users, ACLs, audit, cluster metadata).
        """
        return cls(text, CODED)

    @classmethod
    def flagged(cls, text: str) -> BrokerError:
        """An error answered as raw text with flags 0x01: the schema registry's failures."""
        return cls(text, RAW_FLAGGED)
