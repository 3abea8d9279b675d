"""Issue 18, cases 1 and 2: connection flags and client-go's fallbacks, side by side with real
kubectl. Three local TLS `/version` servers (a: v1.33.2, b: v1.29.0, c: v1.31.4) log every
request; each case asserts that the wrapper's probe asked the server kubectl 1.31.9 asked, for
the same path with the same credentials, and ran that server's own minor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.apiserver import ApiServer, Pki, make_pki
from tests.support.side_by_side import Compared, assert_same_request, compare
from tests.support.wrapper import Wrapper

pytestmark = pytest.mark.kubectl
VERSIONS = {"a": "v1.33.2", "b": "v1.29.0", "c": "v1.31.4"}


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other-pki"))


@pytest.fixture
def servers(pki: Pki) -> Iterator[dict[str, ApiServer]]:
    running = {name: ApiServer(pki, version).__enter__() for name, version in VERSIONS.items()}
    for server in running.values():
        server.state.anonymous = True  # kube-apiserver's default: /version for everyone
    yield running
    for server in running.values():
        server.stop()


def write_kubeconfig(
    path: Path,
    pki: Pki,
    clusters: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    contexts: dict[str, tuple[str, str]],
    current: str | None,
) -> Path:
    """A kubeconfig from plain entries; each cluster gets the test CA unless it names one."""
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": n, "cluster": {"certificate-authority-data": pki.b64("ca.crt"), **c}}
            for n, c in clusters.items()
        ],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [
            {"name": n, "context": {"cluster": c, "user": u}} for n, (c, u) in contexts.items()
        ],
    }
    if current:
        document["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def config(wrapper: Wrapper, pki: Pki, other_pki: Pki, servers: dict[str, ApiServer]) -> Path:
    """a (token user) is current; b has a client-cert user, c a basic-auth one, d no user."""
    clusters: dict[str, dict[str, Any]] = {n: {"server": s.url} for n, s in servers.items()}
    clusters["wrong-ca"] = {
        "server": servers["c"].url,
        "certificate-authority-data": other_pki.b64("ca.crt"),
    }
    clusters["wrong-name"] = {"server": servers["c"].url, "tls-server-name": "wrong.test"}
    users = {
        "a": {"token": "s3cret"},
        "b": {
            "client-certificate-data": pki.b64("client.crt"),
            "client-key-data": pki.b64("client.key"),
        },
        "c": {"username": "alice", "password": "wonderland"},
        "none": {},
    }
    contexts = {
        "a": ("a", "a"),
        "b": ("b", "b"),
        "c": ("c", "c"),
        "d": ("c", "none"),
        "wrong-ca": ("wrong-ca", "a"),
        "wrong-name": ("wrong-name", "a"),
    }
    path = wrapper.cli.home / ".kube" / "config"
    return write_kubeconfig(path, pki, clusters, users, contexts, "a")


Flags = Callable[[dict[str, ApiServer], Pki, Path], tuple[tuple[str, ...], tuple[str, ...]]]
CASES: list[tuple[str, Flags, str]] = [
    ("no-flags", lambda s, p, t: ((), ()), "a"),
    ("server-before", lambda s, p, t: (("--server", s["b"].url), ()), "b"),
    ("server-after-equals", lambda s, p, t: ((), (f"--server={s['b'].url}",)), "b"),
    ("s-short", lambda s, p, t: (("-s", s["b"].url), ()), "b"),
    ("s-short-joined", lambda s, p, t: ((), (f"-s{s['b'].url}",)), "b"),
    ("cluster", lambda s, p, t: ((), ("--cluster", "b")), "b"),
    ("cluster-equals", lambda s, p, t: (("--cluster=c",), ()), "c"),
    ("user", lambda s, p, t: ((), ("--user", "b")), "a"),
    ("context", lambda s, p, t: (("--context", "c"), ()), "c"),
    ("token", lambda s, p, t: ((), ("--token", "other")), "a"),
    ("as", lambda s, p, t: (("--as=bob", "--as-group", "g1"), ("--as-group=g2",)), "a"),
    (
        "client-cert-files",
        lambda s, p, t: (
            ("--context=d",),
            (
                "--client-certificate",
                str(p.folder / "client.crt"),
                f"--client-key={p.folder / 'client.key'}",
            ),
        ),
        "c",
    ),
    (
        "basic-auth",
        lambda s, p, t: (("--context", "d", "--username=alice"), ("--password", "wonderland")),
        "c",
    ),
    ("insecure", lambda s, p, t: (("--context=wrong-ca", "--insecure-skip-tls-verify"), ()), "c"),
    (
        "certificate-authority",
        lambda s, p, t: (("--context=wrong-ca",), ("--certificate-authority", str(p.ca))),
        "c",
    ),
    (
        "tls-server-name",
        lambda s, p, t: (("--context=wrong-name",), ("--tls-server-name=kube.example.test",)),
        "c",
    ),
    ("request-timeout", lambda s, p, t: ((), ("--request-timeout=7s",)), "a"),
    ("request-timeout-seconds", lambda s, p, t: (("--request-timeout", "90"), ()), "a"),
    ("kubeconfig", lambda s, p, t: (("--kubeconfig", str(t)), ()), "b"),
]


@pytest.mark.parametrize(("flags", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_connection_flags_change_the_probe_as_they_change_kubectl(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    config: Path,
    pki: Pki,
    real_kubectls: dict[str, Path],
    tmp_path: Path,
    flags: Flags,
    expected: str,
) -> None:
    other = write_kubeconfig(
        tmp_path / "other.yaml",
        pki,
        {"x": {"server": servers["b"].url}},
        {"x": {"token": "t"}},
        {"x": ("x", "x")},
        "x",
    )
    before, after = flags(servers, pki, other)
    compared = compare(wrapper, servers, real_kubectls, before=before, after=after)
    assert compared.direct.code == 0, compared.direct.stderr  # the case is one kubectl accepts
    assert assert_same_request(compared, servers) == expected
    assert "kubeferry:" not in compared.wrapped.stderr


def test_the_common_ci_form(
    wrapper: Wrapper, servers: dict[str, ApiServer], pki: Pki, real_kubectls: dict[str, Path]
) -> None:
    """KUBECONFIG=/nonexistent kubectl --server=https://C --token=T --certificate-authority=ca"""
    env = {"KUBECONFIG": "/nonexistent/kubeconfig"}
    flags = (f"--server={servers['c'].url}", "--token=T", f"--certificate-authority={pki.ca}")
    compared = compare(wrapper, servers, real_kubectls, before=flags, env=env)
    assert assert_same_request(compared, servers) == "c"
    assert compared.probe[0][1].authorization == "Bearer T"


def test_every_flag_is_part_of_the_cache_key(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    config: Path,
    pki: Pki,
    real_kubectls: dict[str, Path],
) -> None:
    """One version cache for the whole sequence: each new flag set is probed, not served from
    the entry of another; the same flags again are served warm."""
    sequence: list[tuple[tuple[str, ...], str]] = [
        ((), "a"),
        ((f"--server={servers['b'].url}",), "b"),
        (("--cluster=c",), "c"),
        (("--token=other",), "a"),
        (("--as=bob",), "a"),
        (("--user=b",), "a"),
        (("--request-timeout=7s",), "a"),
        (("--context=wrong-ca", "--insecure-skip-tls-verify"), "c"),
    ]
    quiet = {"KUBEFERRY_REVALIDATE_AFTER": "3600"}  # no background refresher in the logs
    for flags, expected in sequence:
        compared = compare(wrapper, servers, real_kubectls, after=flags, env=quiet)
        assert assert_same_request(compared, servers) == expected, flags
    again: Compared = compare(wrapper, servers, real_kubectls, after=("--cluster=c",), env=quiet)
    assert again.probe == []  # warm: the cache knew this flag set
    assert again.ran == "v1.31.9"


def test_kubernetes_master_when_no_current_context(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    pki: Pki,
    real_kubectls: dict[str, Path],
    tmp_path: Path,
) -> None:
    """Contexts but no current-context, or an empty --kubeconfig: client-go's defaults."""
    no_current = write_kubeconfig(
        tmp_path / "kc",
        pki,
        {"a": {"server": servers["a"].url}},
        {"a": {}},
        {"a": ("a", "a")},
        None,
    )
    env = {"KUBECONFIG": str(no_current), "KUBERNETES_MASTER": servers["b"].url}
    env["SSL_CERT_FILE"] = str(pki.ca)  # Go and the probe both read it for the system pool
    compared = compare(wrapper, servers, real_kubectls, env=env, after=("--token=T",))
    assert assert_same_request(compared, servers) == "b"
    empty = tmp_path / "empty"
    empty.write_text("")
    flags = ("--kubeconfig", str(empty), "--token", "T")
    compared = compare(wrapper, servers, real_kubectls, env=env, before=flags)
    assert assert_same_request(compared, servers) == "b"
    # No credentials at all over https: kubectl would ask for a user name on its stdin (EOF
    # here). The probe asks nobody, says so, and runs the newest local kubectl.
    compared = compare(wrapper, servers, real_kubectls, env=env)
    assert compared.kubectl == [] and compared.probe == []
    assert "EOF" in compared.direct.stderr
    lines = [line for line in compared.wrapped.stderr.splitlines() if "kubeferry:" in line]
    assert len(lines) == 1 and "asks for a user name and password" in lines[0], lines
    assert "using the newest local kubectl 1.33.9" in lines[0]
