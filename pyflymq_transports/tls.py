"""TLS transport (URL scheme ``flymqs://``, or any address with ``tls_enabled=True``).

Security defaults: ``ssl.create_default_context()`` (system trust store, hostname checking, TLS 1.2
minimum, Python's default cipher selection), plus the CA file and client certificate the user gives.
``tls_insecure_skip_verify`` turns verification off and says so with an
:class:`InsecureTransportWarning` every time a connection is made that way.

Note on mutual TLS: the client presents ``tls_cert_file``/``tls_key_file`` when configured, but the
FlyMQ 1.26 server never *requests* a client certificate (it sets a CA pool without a client-auth
mode, spec §1), so a client certificate authenticates nothing on that server version.

Concurrency: OpenSSL does not allow one ``SSL`` object to be used by two threads at the same time, yet
the connection above wants one thread waiting for a response while others write.  The socket is
therefore non-blocking after the handshake; every ``SSL_read``/``SSL_write`` runs under a short lock
and all *waiting* (``poll`` for readability/writability) happens outside it, so a reader never blocks
a writer for longer than one record's encryption.
"""

from __future__ import annotations

import builtins
import logging
import select
import socket
import ssl
import threading
import time
import warnings

from pyflymq_core.errors import ConnectionError
from pyflymq_transports.base import ServerAddress, Transport, TransportOptions
from pyflymq_transports.tcp import open_socket, wait_for

__all__ = ["VERIFY_HINT", "InsecureTransportWarning", "TlsTransport", "build_ssl_context"]

logger = logging.getLogger("pyflymq.transport")

_POLLIN = getattr(select, "POLLIN", 1)
_POLLOUT = getattr(select, "POLLOUT", 4)

#: The hint of a failed certificate verification (shared with the asyncio TLS transport).
VERIFY_HINT = (
    "The server certificate could not be verified. Pass the CA that signed it with tls_ca_file=..., "
    "check that the host name matches the certificate, or (testing only) tls_insecure_skip_verify=True."
)
HANDSHAKE_HINT = (
    "Check that the server listens with TLS on this port (FlyMQ has no STARTTLS), that both sides "
    "share a TLS version >= 1.2, and, when the server requires client certificates (mTLS), that "
    "tls_cert_file/tls_key_file name one its CA signed."
)


def handshake_error(address: object, exc: BaseException) -> ConnectionError:
    """The error of a failed TLS handshake (shared by the blocking and the asyncio transport)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectionError(
            f"TLS handshake with {address} failed: {exc.verify_message or exc}", hint=VERIFY_HINT
        )
    if isinstance(exc, builtins.TimeoutError):
        return ConnectionError(f"TLS handshake with {address} timed out", hint=HANDSHAKE_HINT)
    # A peer that hangs up mid-handshake (a plaintext server, a refused client certificate) gives
    # exceptions with no text: name the exception instead of leaving the reason blank.
    reason = str(exc) or f"the server closed the connection ({type(exc).__name__})"
    return ConnectionError(f"TLS handshake with {address} failed: {reason}", hint=HANDSHAKE_HINT)


class InsecureTransportWarning(UserWarning):
    """A TLS connection was made without verifying the server certificate."""


def build_ssl_context(options: TransportOptions) -> ssl.SSLContext:
    """The client context for ``options``: verification on unless explicitly skipped."""
    try:
        context = ssl.create_default_context(cafile=options.tls_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectionError(
            f"cannot load the CA file {options.tls_ca_file!r}: {exc}",
            hint="tls_ca_file must be a readable PEM file with the CA certificate(s) of the server.",
        ) from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.tls_cert_file or options.tls_key_file:
        if not options.tls_cert_file:
            raise ConnectionError(
                "tls_key_file is set but tls_cert_file is not",
                hint="Mutual TLS needs both the client certificate and its private key.",
            )
        try:
            context.load_cert_chain(options.tls_cert_file, options.tls_key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionError(
                f"cannot load the client certificate {options.tls_cert_file!r}: {exc}",
                hint="tls_cert_file/tls_key_file must be readable PEM files that belong together.",
            ) from exc
    if options.tls_insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class TlsTransport(Transport):
    """A TLS stream to one FlyMQ server (TLS-only listener; there is no STARTTLS)."""

    full_duplex = True

    def __init__(self, address: ServerAddress, options: TransportOptions) -> None:
        super().__init__(address, options)
        self._sock: ssl.SSLSocket | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def socket(self) -> ssl.SSLSocket:
        """The TLS socket (``ConnectionError`` when not connected or closed)."""
        sock = self._sock
        if sock is None or self._closed:
            raise ConnectionError(f"connection to {self.address} is closed")
        return sock

    def connect(self) -> None:
        if self._sock is not None:
            return
        options = self.options
        context = build_ssl_context(options)
        if options.tls_insecure_skip_verify:
            warnings.warn(
                f"TLS certificate verification is disabled for {self.address} "
                "(tls_insecure_skip_verify=True): the connection can be intercepted. Testing only.",
                InsecureTransportWarning,
                stacklevel=2,
            )
        started = time.monotonic()
        raw = open_socket(self.address, options)
        server_hostname = options.tls_server_hostname or self.address.host or "localhost"
        try:
            if options.connect_timeout is not None:
                raw.settimeout(max(0.001, options.connect_timeout - (time.monotonic() - started)))
            sock = context.wrap_socket(raw, server_hostname=server_hostname)
        except (ssl.SSLError, OSError) as exc:  # builtins.TimeoutError included
            raw.close()
            raise handshake_error(self.address, exc) from exc
        sock.setblocking(False)
        self._sock = sock
        logger.debug("TLS %s established with %s (%s)", sock.version(), self.address, sock.cipher())

    # -- generic ABC interface --------------------------------------------------------------------

    def settimeout(self, timeout: float | None) -> None:
        """Kept for the ABC; the TLS socket stays non-blocking and each call carries a timeout."""

    def sendall(self, data: bytes) -> None:
        self.send_timeout(data, None)

    def recv(self, max_bytes: int) -> bytes:
        return self.recv_timeout(max_bytes, None)

    # -- the paths the connection uses --------------------------------------------------------------

    def recv_timeout(self, max_bytes: int, timeout: float | None) -> bytes:
        sock = self.socket
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                try:
                    return sock.recv(max_bytes)
                except ssl.SSLWantReadError:
                    events = _POLLIN
                except ssl.SSLWantWriteError:
                    events = _POLLOUT
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return b""
            remaining = None if deadline is None else deadline - time.monotonic()
            wait_for(sock, events, remaining)

    def send_timeout(self, data: bytes, timeout: float | None) -> None:
        sock = self.socket
        deadline = None if timeout is None else time.monotonic() + timeout
        view = memoryview(data)
        while view:
            with self._lock:
                try:
                    sent = sock.send(view)
                except ssl.SSLWantWriteError:
                    events = _POLLOUT
                except ssl.SSLWantReadError:
                    events = _POLLIN
                else:
                    view = view[sent:]
                    continue
            remaining = None if deadline is None else deadline - time.monotonic()
            wait_for(sock, events, remaining)

    def peer_closed(self) -> bool:
        sock = self._sock
        if sock is None or self._closed:
            return True
        with self._lock:
            try:
                data = sock.recv(1)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return False  # alive (a TLS 1.3 session ticket may just have been consumed)
            except (ssl.SSLError, OSError) as exc:
                logger.debug("TLS connection to %s is broken: %s", self.address, exc)
                return True
        if data:
            logger.warning("unsolicited data from %s on an idle connection; dropping it", self.address)
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sock = self._sock
        if sock is None:
            return
        try:
            # Wakes a thread waiting in poll on this socket; no close_notify round trip needed.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError as exc:
            logger.debug("shutdown of the TLS connection to %s: %s", self.address, exc)
        sock.close()
