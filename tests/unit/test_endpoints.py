"""KUBEFERRY_MIRROR points every endpoint at a mirror; explicit variables still win."""

from __future__ import annotations

import pytest

from kubeferry.core.endpoints import Endpoints

BASE = "http://mirror.example:8080"


def test_mirror_sets_all_four_endpoints() -> None:
    endpoints = Endpoints.from_environ({"KUBEFERRY_MIRROR": BASE + "/"})
    assert endpoints.channels_url == f"{BASE}/update.k3s.io/v1-release/channels"
    assert endpoints.releases_url == f"{BASE}/api.github.com/repos/k3s-io/k3s/releases"
    assert endpoints.k3s_download_url == f"{BASE}/github.com/k3s-io/k3s/releases/download"
    assert endpoints.kubectl_mirror_url == f"{BASE}/dl.k8s.io"
    assert endpoints.k3s_install_script("v1.32.3+k3s1") == (
        f"{BASE}/raw.githubusercontent.com/k3s-io/k3s/v1.32.3+k3s1/install.sh"
    )
    assert endpoints.kubectl_url("1.32.5", "linux", "amd64") == (
        f"{BASE}/dl.k8s.io/release/v1.32.5/bin/linux/amd64/kubectl"
    )


@pytest.mark.parametrize(
    ("variable", "attribute"),
    [
        ("KUBEFERRY_K3S_CHANNELS_URL", "channels_url"),
        ("KUBEFERRY_K3S_RELEASES_URL", "releases_url"),
        ("KUBEFERRY_K3S_DOWNLOAD_URL", "k3s_download_url"),
        ("KUBEFERRY_KUBECTL_MIRROR_URL", "kubectl_mirror_url"),
        ("KUBEFERRY_K3S_INSTALL_SCRIPT_URL", "k3s_install_script_url"),
    ],
    ids=["channels", "releases", "k3s-download", "kubectl", "install-script"],
)
def test_explicit_variable_beats_the_mirror(variable: str, attribute: str) -> None:
    endpoints = Endpoints.from_environ({"KUBEFERRY_MIRROR": BASE, variable: "http://other/x/"})
    assert getattr(endpoints, attribute) == "http://other/x"
    others = {"channels_url", "releases_url", "k3s_download_url", "kubectl_mirror_url"}
    others.add("k3s_install_script_url")
    for name in others - {attribute}:
        assert getattr(endpoints, name).startswith(BASE + "/")


def test_mirror_beats_kuberlr_mirror_setting_and_absent_mirror_changes_nothing() -> None:
    with_mirror = Endpoints.from_environ(
        {"KUBEFERRY_MIRROR": BASE}, kube_mirror_url="https://dl.k8s.io"
    )
    assert with_mirror.kubectl_mirror_url == f"{BASE}/dl.k8s.io"
    plain = Endpoints.from_environ({}, kube_mirror_url="http://kuberlr-mirror")
    assert plain.kubectl_mirror_url == "http://kuberlr-mirror"
    assert plain.channels_url == "https://update.k3s.io/v1-release/channels"


def test_a_github_token_never_goes_to_a_mirror() -> None:
    environ = {"GITHUB_TOKEN": "secret", "KUBEFERRY_MIRROR": "http://mirror.example:8080"}
    assert Endpoints.from_environ(environ).github_token is None
    explicit = {**environ, "KUBEFERRY_K3S_RELEASES_URL": "https://ghe.example/api/v3/repos/k/k"}
    assert Endpoints.from_environ(explicit).github_token == "secret"
    assert Endpoints.from_environ({"GITHUB_TOKEN": "secret"}).github_token == "secret"


def test_install_script_defaults_to_the_k3s_repository_at_the_tag() -> None:
    endpoints = Endpoints.from_environ({})
    assert endpoints.k3s_install_script("v1.30.6+k3s1") == (
        "https://raw.githubusercontent.com/k3s-io/k3s/v1.30.6+k3s1/install.sh"
    )
