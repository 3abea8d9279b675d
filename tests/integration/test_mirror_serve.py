"""`kubeferry mirror serve` as a real process, with real clients over real sockets."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, child_environment
from tests.support import mirror_clients as clients
from tests.support.apiserver import Pki
from tests.support.mirror import (
    BUNDLE_ARGS,
    MirrorProcess,
    curl,
    edit_bundle,
    header,
    make_bundle,
    mirror_upstream,
)
from tests.support.sample import KUBECTL, OLDER, STABLE

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, real_kubectls: dict[str, Path]) -> Path:
    """One bundle (k3s stable + 1.30 for amd64, kubectl 1.31 and 1.32 for linux), made once."""
    root = tmp_path_factory.mktemp("mirror-bundle")
    home = root / "maker"
    home.mkdir()
    cli = Cli(home, child_environment(home))
    kubectl = real_kubectls[KUBECTL].read_bytes()
    with mirror_upstream(kubectl, real_kubectls["1.33.9"].read_bytes()) as upstream:
        return make_bundle(cli, upstream, root / "bundle")


@pytest.fixture(scope="module")
def served(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MirrorProcess]:
    home = tmp_path_factory.mktemp("mirror-home")
    with MirrorProcess(child_environment(home), bundle) as mirror:
        yield mirror


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "server-home"
    home.mkdir(exist_ok=True)
    return child_environment(home)


def test_first_lines_name_the_address_and_the_client_settings(served: MirrorProcess) -> None:
    base = served.base
    assert served.lines[0] == f"serving at {base}/"
    assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")
    settings = [line.split("#")[0].strip() for line in served.lines[1:]]
    assert settings == [
        f"KUBEFERRY_MIRROR={base}",
        f"KubeMirrorUrl = {base}/dl.k8s.io",
        f"GITHUB_URL={base}/github.com/k3s-io/k3s/releases",
        f"INSTALL_K3S_CHANNEL_URL={base}/update.k3s.io/v1-release/channels",
    ]
    page = curl("-f", f"{base}/").stdout.decode()
    assert f"INSTALL_K3S_CHANNEL_URL={base}/update.k3s.io" in page and STABLE in page


def test_kubeferry_with_only_the_mirror_variable(
    served: MirrorProcess, bundle: Path, tmp_path: Path
) -> None:
    clients.check_kubeferry_client(served.base, tmp_path / "client", bundle)


def test_wrapper_downloads_through_kuberlr_mirror_url(
    served: MirrorProcess, tmp_path: Path, pki: Pki
) -> None:
    clients.check_wrapper(served.base, tmp_path / "client", pki)


def test_kubectl_digests_and_stable_files(served: MirrorProcess, bundle: Path) -> None:
    clients.check_kubectl_digests(served.base, bundle)


def test_install_script_requests(served: MirrorProcess, bundle: Path, tmp_path: Path) -> None:
    clients.check_install_script(served.base, tmp_path / "script", bundle)
    redirect = curl(
        "-D", "-", "-o", os.devnull, f"{served.base}/update.k3s.io/v1-release/channels/v1.30"
    )
    assert header(redirect.stdout, "Location") == (
        f"{served.base}/github.com/k3s-io/k3s/releases/tag/{OLDER}"
    )


def test_range_resume(served: MirrorProcess, bundle: Path, tmp_path: Path) -> None:
    clients.check_range_resume(served.base, tmp_path / "range", bundle)


def test_head_etag_and_conditional_requests(served: MirrorProcess) -> None:
    clients.check_conditional(served.base)
    url = f"{served.base}/dl.k8s.io/release/stable.txt"
    etag = header(curl("-f", "-I", url).stdout, "ETag")
    code = curl("-H", f"If-None-Match: {etag}", "-o", os.devnull, "-w", "%{http_code}", url)
    assert code.stdout.decode() == "304"


def test_escapes_and_other_methods_are_refused(served: MirrorProcess) -> None:
    clients.check_escapes_refused(served.base, allowed=(400,))
    posted = curl(
        "-X", "POST", "-o", os.devnull, "-w", "%{http_code}", f"{served.base}/", check=False
    )
    assert posted.stdout.decode() == "405"
    missing = curl(
        "-o", "-", "-w", "\n%{http_code}", f"{served.base}/dl.k8s.io/release/v9.9.9/x", check=False
    )
    assert missing.stdout.decode().endswith("404")


def test_channels_and_paged_releases(served: MirrorProcess) -> None:
    channels = json.loads(curl("-f", f"{served.base}/update.k3s.io/v1-release/channels").stdout)
    assert channels["resourceType"] == "channels"
    latest = {item["name"]: item["latest"] for item in channels["data"]}
    assert latest["stable"] == STABLE and latest["v1.30"] == OLDER
    assert channels["data"][0]["links"]["self"].startswith(served.base + "/update.k3s.io/")
    first = curl(
        "-f", "-D", "-", f"{served.base}/api.github.com/repos/k3s-io/k3s/releases?per_page=1"
    )
    head, _, body = first.stdout.partition(b"\r\n\r\n")
    link = header(head, "Link") or ""
    assert 'rel="next"' in link and "page=2" in link
    assert [r["tag_name"] for r in json.loads(body)] == [STABLE]
    second_url = link.split(">", 1)[0].lstrip("<")
    second = json.loads(curl("-f", second_url).stdout)
    assert [r["tag_name"] for r in second] == [OLDER]
    asset = next(a for a in second[0]["assets"] if a["name"] == "k3s")
    assert asset["browser_download_url"].startswith(f"{served.base}/github.com/k3s-io/k3s/")
    assert curl("-f", "-I", asset["browser_download_url"]).returncode == 0


def test_tampered_and_symlinked_files_are_refused(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    binary = copy / "k3s" / STABLE / "k3s"
    images = copy / "k3s" / OLDER / "k3s-airgap-images-amd64.tar.zst"
    original = images.read_bytes()
    images.unlink()
    (tmp_path / "elsewhere").write_bytes(original)
    images.symlink_to(tmp_path / "elsewhere")  # the right bytes, behind a link
    download = "/github.com/k3s-io/k3s/releases/download"
    with MirrorProcess(_env(tmp_path), copy) as mirror:
        url = f"{mirror.base}{download}/{STABLE}/k3s"
        assert curl("-f", "-o", os.devnull, url).returncode == 0
        before = binary.stat()
        data = bytearray(binary.read_bytes())
        data[100] ^= 0xFF
        with binary.open("r+b") as stream:  # in place: same size, same inode, new bytes
            stream.write(bytes(data))
        os.utime(binary, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the mtime set back
        assert binary.stat().st_mtime_ns == before.st_mtime_ns
        refused = curl("-o", "-", "-w", "\n%{http_code}", url, check=False).stdout.decode("latin-1")
        assert refused.endswith("503") and "does not match" in refused and "\x7fELF" not in refused
        linked = curl(
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            f"{mirror.base}{download}/{OLDER}/{images.name}",
            check=False,
        )
        assert linked.stdout.endswith(b"503") and b"symbolic link" in linked.stdout
        assert original[:64] not in linked.stdout
        assert mirror.stop() == 0
    assert "refusing" in mirror.stderr and str(binary) in mirror.stderr
    assert "Traceback" not in mirror.stderr
    assert f'GET {download}/{STABLE}/k3s HTTP/1.1" 200' in mirror.stderr  # the access log


def test_bundles_merge_and_conflicts_name_both(bundle: Path, tmp_path: Path, real_kubectls) -> None:
    extra = edit_bundle(
        bundle,
        tmp_path / "second",
        {"kuberlr/linux-amd64/kubectl1.29.4": real_kubectls["1.29.4"].read_bytes()},
    )
    with MirrorProcess(_env(tmp_path), bundle, extra) as mirror:
        for minor, version in (("1.29", "1.29.4"), ("1.31", KUBECTL)):
            url = f"{mirror.base}/dl.k8s.io/release/stable-{minor}.txt"
            assert curl("-f", url).stdout.decode() == f"v{version}"
    conflicting = edit_bundle(bundle, tmp_path / "third", {f"k3s/{STABLE}/k3s": b"other bytes"})
    done = subprocess.run(
        MirrorProcess(_env(tmp_path), bundle, conflicting).args,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert str(bundle) in done.stderr and str(conflicting) in done.stderr
    assert "different bytes" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_stops_on_signals_without_a_traceback(
    bundle: Path, tmp_path: Path, number: int, code: int
) -> None:
    with MirrorProcess(_env(tmp_path), bundle) as mirror:
        assert curl("-f", "-o", os.devnull, f"{mirror.base}/").returncode == 0
        assert mirror.stop(number) == code
    assert "Traceback" not in mirror.stderr


def test_https_with_tls_cert_and_key(bundle: Path, tmp_path: Path, pki: Pki) -> None:
    tls = (
        "--tls-cert",
        str(pki.folder / "server.crt"),
        "--tls-key",
        str(pki.folder / "server.key"),
    )
    log = tmp_path / "access.log"
    with MirrorProcess(_env(tmp_path), bundle, extra=(*tls, "--access-log", str(log))) as mirror:
        assert mirror.lines[0].startswith("serving at https://127.0.0.1:")
        url = f"{mirror.base}/github.com/k3s-io/k3s/releases/download/{STABLE}/k3s"
        got = curl("-f", "--cacert", str(pki.ca), url).stdout
    assert got == (bundle / "k3s" / STABLE / "k3s").read_bytes()
    request = f'"GET /github.com/k3s-io/k3s/releases/download/{STABLE}/k3s HTTP/1.1" 200'
    assert request in log.read_text()
    assert "GET /github.com" not in mirror.stderr  # the access log went to the file only


def test_concurrent_first_requests_share_one_verification(
    bundle: Path, tmp_path: Path, real_kubectls
) -> None:
    big = real_kubectls["1.29.4"].read_bytes()  # ~50 MB: hashing it takes long enough to overlap
    copy = edit_bundle(bundle, tmp_path / "bundle", {"kuberlr/linux-amd64/kubectl1.29.4": big})
    with MirrorProcess(_env(tmp_path), copy) as mirror:
        url = f"{mirror.base}/dl.k8s.io/release/v1.29.4/bin/linux/amd64/kubectl"
        outputs = [tmp_path / f"out{n}" for n in range(8)]
        downloads = [
            subprocess.Popen(["curl", "-sSf", "-o", str(out), url], env=_env(tmp_path))
            for out in outputs
        ]
        assert [d.wait(timeout=120) for d in downloads] == [0] * 8
        sha512 = curl("-f", f"{url}.sha512").stdout.decode()
    assert all(out.read_bytes() == big for out in outputs)
    assert sha512 == hashlib.sha512(big).hexdigest()
    verified = [
        line for line in mirror.stderr_lines if line.startswith("kubeferry mirror: verified")
    ]
    assert len(verified) == 1, verified


def test_usage_and_startup_errors_are_clear(cli: Cli, bundle: Path, tmp_path: Path) -> None:
    missing = cli("mirror", "serve", str(tmp_path / "nowhere"))
    assert missing.code == 1 and "is not a kubeferry bundle" in missing.stderr
    assert cli("mirror", "serve", str(bundle), "--listen", "nope").code == 2
    assert cli("mirror", "serve", str(bundle), "--tls-cert", str(bundle)).code == 2
    with MirrorProcess(_env(tmp_path), bundle) as mirror:
        port = mirror.base.rsplit(":", 1)[1]
        taken = cli("mirror", "serve", str(bundle), "--listen", f"127.0.0.1:{port}")
    assert taken.code == 1 and "cannot listen on 127.0.0.1:" in taken.stderr
    assert "--listen" in taken.stderr and "Traceback" not in taken.stderr


def test_a_bundle_made_from_the_mirror_has_the_same_bytes(
    served: MirrorProcess, bundle: Path, tmp_path: Path
) -> None:
    cli = clients.fresh_cli(tmp_path / "maker", KUBEFERRY_MIRROR=served.base)
    made = cli("bundle", "create", str(tmp_path / "again"), *BUNDLE_ARGS)
    assert made.code == 0, made.stderr

    def digests(folder: Path) -> dict[str, str]:
        manifest = json.loads((folder / "kubeferry-bundle.json").read_text())
        return {
            f["path"]: f["sha256"]
            for f in manifest["files"]
            if "kuberlr" in f["path"] or "k3s/" in f["path"]
        }

    assert digests(tmp_path / "again") == digests(bundle)


def test_compressed_siblings_are_never_served(bundle: Path, tmp_path: Path) -> None:
    """aiohttp serves `<name>.gz` beside a file to clients that accept gzip; those bytes were
    never verified, so the mirror must send the verified file itself."""
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    binary = copy / "k3s" / STABLE / "k3s"
    (binary.parent / "k3s.gz").write_bytes(b"\x1f\x8b not the verified bytes")
    (binary.parent / "k3s.br").write_bytes(b"not the verified bytes either")
    url = f"/github.com/k3s-io/k3s/releases/download/{STABLE}/k3s"
    with MirrorProcess(_env(tmp_path), copy) as mirror:
        for encoding in ("gzip", "br", "gzip, br"):
            answer = curl(
                "-D",
                "-",
                "-o",
                str(tmp_path / "got"),
                "-H",
                f"Accept-Encoding: {encoding}",
                f"{mirror.base}{url}",
            )
            assert b"content-encoding" not in answer.stdout.lower()
            assert (tmp_path / "got").read_bytes() == binary.read_bytes()
        assert mirror.stop() == 0
