"""TLS for the probe, verified as kubectl (Go's crypto/x509) verifies (cold path).

Go checks the chain, validity, the server's name or IP against its SANs and the serverAuth
purpose. Python 3.13 adds OpenSSL's strict X.509 checks to its default context (a CA must carry
keyUsage, certificates an Authority Key Identifier, ...), which real clusters' CAs do not always
pass, so the probe clears `VERIFY_X509_STRICT`. Go takes any certificate in its root pool as a
trust anchor, so `VERIFY_X509_PARTIAL_CHAIN` is set. With no CA in the kubeconfig the system's
store is used, as kubectl uses it: `SSL_CERT_FILE`/`SSL_CERT_DIR` when set (Go reads them too),
else the operating system's store through `truststore`, else certifi's bundle.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Mapping

from kubeferry.shim.kubeconfig import ClusterAccess


def go_like(context: ssl.SSLContext) -> ssl.SSLContext:
    """Verification flags as Go's verifier behaves: not strict, any root pool member anchors."""
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    partial = getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
    context.verify_flags = (context.verify_flags & ~strict) | partial
    return context


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
        context.load_cert_chain(paths[0], paths[1])
    finally:
        for name in ("cert.pem", "key.pem"):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
        os.rmdir(folder)


def client_context(
    access: ClusterAccess, cert: tuple[bytes, bytes] | None, environ: Mapping[str, str]
) -> ssl.SSLContext:
    """The context for `access`: its CA (only it, as in Go), or the system store; client cert."""
    if access.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif access.ca_file or access.ca_data:
        context = go_like(ssl.create_default_context(cafile=access.ca_file, cadata=access.ca_data))
    else:
        context = system_context(environ)
    if cert is not None:
        _load_client_pair(context, cert)
    elif access.cert_file and access.key_file:
        context.load_cert_chain(access.cert_file, access.key_file)
    return context
