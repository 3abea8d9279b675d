"""TLS for the probe, verified as kubectl (Go's crypto/x509) verifies (cold path).

Go checks the chain, validity, the server's name or IP against its SANs and the serverAuth
purpose. Python 3.13 adds OpenSSL's strict X.509 checks to its default context (a CA must carry
keyUsage, certificates an Authority Key Identifier, ...), which real clusters' CAs do not always
pass, so the probe clears `VERIFY_X509_STRICT`. Go takes any certificate in its root pool as a
trust anchor, so `VERIFY_X509_PARTIAL_CHAIN` is set. With no CA in the kubeconfig the system's
store is used, as kubectl uses it: `SSL_CERT_FILE`/`SSL_CERT_DIR` when set (Go reads them too),
else the operating system's store through `truststore`, else certifi's bundle. As lenient as Go
where Go is: 1024-bit RSA keys (OpenSSL security level 1), a CA bundle whose malformed blocks
are skipped. A client key under a pass phrase is an EncryptedKeyError, never a prompt.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Mapping

from kubeferry.shim.kubeconfig import ClusterAccess

# Python's default TLS 1.2 suites, at OpenSSL security level 1: Go accepts 1024-bit RSA keys
# (level 2 refuses them as "key too weak"); SHA-1 signatures stay refused, as in Go.
CIPHERS = "@SECLEVEL=1:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM"
BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


class EncryptedKeyError(Exception):
    """The client key is under a pass phrase: kubectl cannot use it, and nothing may prompt."""


def go_like(context: ssl.SSLContext) -> ssl.SSLContext:
    """Verification flags as Go's verifier behaves: not strict, any root pool member anchors."""
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    partial = getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
    context.verify_flags = (context.verify_flags & ~strict) | partial
    try:
        context.set_ciphers(CIPHERS)
    except (ssl.SSLError, AttributeError, NotImplementedError):
        pass  # a context that keeps its own suites (the OS store's) keeps its own rules
    return context


def certificate_blocks(pem: str) -> list[bytes]:
    """The DER of each CERTIFICATE block Go's AppendCertsFromPEM would try (malformed: skipped)."""
    import binascii

    blocks = []
    for piece in pem.split(BEGIN)[1:]:
        body, found, _ = piece.partition(END)
        if not found or ":" in body:  # no end line, or PEM headers: Go skips the block
            continue
        try:
            blocks.append(binascii.a2b_base64("".join(body.split()), strict_mode=True))
        except (binascii.Error, ValueError):
            continue
    return blocks


def load_authority(context: ssl.SSLContext, pem: str, where: str) -> None:
    """Trust every certificate of `pem` that parses, as Go does; ValueError when none does."""
    loaded = 0
    for der in certificate_blocks(pem):
        try:
            context.load_verify_locations(cadata=der)
        except ssl.SSLError:
            continue
        loaded += 1
    if not loaded:
        raise ValueError(f"no usable certificate in {where} (kubectl fails on it too)")


def _no_pass_phrase() -> bytes:
    raise EncryptedKeyError("pass phrase")


def system_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """A client context trusting SSL_CERT_FILE/SSL_CERT_DIR, else the OS store, else certifi."""
    cafile = environ.get("SSL_CERT_FILE") or None
    capath = environ.get("SSL_CERT_DIR") or None
    if cafile or capath:
        return go_like(ssl.create_default_context(cafile=cafile, capath=capath))
    try:
        import truststore  # the operating system's store (Keychain, Windows, OpenSSL paths)

        return go_like(truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    except ImportError:
        pass
    try:
        import certifi

        return go_like(ssl.create_default_context(cafile=certifi.where()))
    except ImportError:
        return go_like(ssl.create_default_context())


def _private_folder() -> str:
    """A new folder only this user can read (tempfile would cost the cold path 10 ms)."""
    names = ("XDG_RUNTIME_DIR", "TMPDIR", "TEMP", "TMP")
    base = next((os.environ[n] for n in names if os.environ.get(n)), "/tmp")  # noqa: S108
    for attempt in range(100):
        folder = os.path.join(base, f"kubeferry-probe-{os.getpid()}-{time.time_ns()}-{attempt}")
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        return folder
    raise OSError(f"cannot make a private folder in {base}")


def _load_client_pair(context: ssl.SSLContext, cert: tuple[bytes, bytes]) -> None:
    # ssl loads client certificates from files only: a private folder, removed at once.
    folder = _private_folder()
    try:
        paths = []
        for name, data in zip(("cert.pem", "key.pem"), cert, strict=True):
            path = os.path.join(folder, name)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
            paths.append(path)
        _load_pair(context, paths[0], paths[1], "client-key-data")
    finally:
        for name in ("cert.pem", "key.pem"):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
        os.rmdir(folder)


def _load_pair(context: ssl.SSLContext, cert: str, key: str, where: str) -> None:
    try:
        context.load_cert_chain(cert, key, password=_no_pass_phrase)
    except EncryptedKeyError:
        raise EncryptedKeyError(
            f"the client key ({where}) is encrypted: kubectl cannot use a key under a pass "
            "phrase and fails, and the probe asks for none"
        ) from None


def _authority(access: ClusterAccess) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # only the cluster's CA, as in Go
    if access.ca_file:
        with open(access.ca_file, encoding="ascii", errors="replace") as stream:
            load_authority(context, stream.read(), access.ca_file)
    else:
        load_authority(context, access.ca_data or "", "certificate-authority-data")
    return go_like(context)


def client_context(
    access: ClusterAccess, cert: tuple[bytes, bytes] | None, environ: Mapping[str, str]
) -> ssl.SSLContext:
    """The context for `access`: its CA (only it, as in Go), or the system store; client cert."""
    if access.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        go_like(context)
    elif access.ca_file or access.ca_data:
        context = _authority(access)
    else:
        context = system_context(environ)
    if cert is not None:
        _load_client_pair(context, cert)
    return context


def wrap(context: ssl.SSLContext, sock: socket.socket, name: str) -> socket.socket:
    """TLS over `sock`, which may itself be TLS (an https proxy's tunnel)."""
    if isinstance(sock, ssl.SSLSocket):
        from kubeferry.shim.tlstunnel import TlsOverTls

        return TlsOverTls(context, sock, name)  # type: ignore[return-value]
    return context.wrap_socket(sock, server_hostname=name)
