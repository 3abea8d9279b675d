"""registries.yaml: built for a mirror, checked, merged (pure functions)."""

from __future__ import annotations

import pytest
import yaml

from kubeferry.errors import RegistriesFileError, RegistryError
from kubeferry.registry.registries_yaml import (
    MirrorSettings,
    build_registries,
    check_registries,
    merge_registries,
    render_registries,
)


def test_default_registries_point_at_the_mirror_over_https() -> None:
    document = build_registries(MirrorSettings("registry.example:5000"))
    assert list(document["mirrors"]) == ["docker.io", "registry.k8s.io", "ghcr.io", "quay.io"]
    for entry in document["mirrors"].values():
        assert entry == {"endpoint": ["https://registry.example:5000"]}
    assert "configs" not in document


def test_prefix_becomes_a_rewrite_and_options_become_configs() -> None:
    document = build_registries(
        MirrorSettings(
            "http://registry.example:5000/mirror",
            registries=("docker.io",),
            plain_http=True,
            ca_file="/etc/ssl/company.pem",
            username="alice",
            password="pw",
        )
    )
    assert document["mirrors"]["docker.io"] == {
        "endpoint": ["http://registry.example:5000"],
        "rewrite": {"^(.*)$": "mirror/$1"},
    }
    assert document["configs"]["registry.example:5000"] == {
        "tls": {"ca_file": "/etc/ssl/company.pem"},
        "auth": {"username": "alice", "password": "pw"},
    }
    parsed = yaml.safe_load(render_registries(document))
    assert parsed == document and check_registries(parsed) == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("mirrors:\n  docker.io:\n    endpoint: [ftp://x]\n", "not an http:// or https:// URL"),
        ("mirrors:\n  docker.io:\n    endpoint: https://x\n", "not a list of URLs"),
        (
            "mirrors:\n  docker.io:\n    endpoint: [https://x]\n  rewrite:\n    a: b\n",
            "mis-indented",
        ),
        ("mirrors:\n  docker.io:\n    rewrite: {'(': x}\n", "not a regular expression"),
        ("configs:\n  x:\n    tls:\n      insecure_skip_verify: 'yes'\n", "must be a bool"),
        ("configs:\n  x:\n    auth:\n      user: a\n", "unknown key 'user'"),
        ("mirror:\n  docker.io: {}\n", "unknown top-level key 'mirror'"),
        ("- a\n", "not a mapping"),
    ],
    ids=[
        "scheme",
        "endpoint-not-list",
        "rewrite-6959",
        "bad-regex",
        "tls-type",
        "auth-key",
        "top-key",
        "list",
    ],
)
def test_check_names_each_mistake(text: str, words: str) -> None:
    problems = check_registries(yaml.safe_load(text))
    assert any(words in problem for problem in problems), problems


def test_merge_keeps_other_registries_and_replaces_ours() -> None:
    existing = {
        "mirrors": {
            "example.org": {"endpoint": ["https://other"]},
            "docker.io": {"endpoint": ["https://old"]},
        },
        "configs": {"other:443": {"tls": {"insecure_skip_verify": True}}},
    }
    ours = build_registries(MirrorSettings("new:5000", registries=("docker.io",)))
    merged = merge_registries(existing, ours)
    assert merged["mirrors"]["example.org"] == {"endpoint": ["https://other"]}
    assert merged["mirrors"]["docker.io"] == {"endpoint": ["https://new:5000"]}
    assert merged["configs"] == existing["configs"]


@pytest.mark.parametrize("mirror", ["no host here", "registry.example:5000/UPPER", ""])
def test_bad_mirror_is_refused(mirror: str) -> None:
    with pytest.raises((RegistryError, RegistriesFileError)) as caught:
        build_registries(MirrorSettings(mirror))
    assert "HOST[:PORT]" in str(caught.value)


def test_a_config_is_merged_key_by_key() -> None:
    """Writing tls for a host keeps the auth the user already had for it."""
    from kubeferry.registry.registries_yaml import merge_registries

    existing = {
        "configs": {"mirror:5000": {"auth": {"username": "u", "password": "p"}}},
        "mirrors": {"quay.io": {"endpoint": ["https://other"]}},
    }
    ours = {
        "mirrors": {"docker.io": {"endpoint": ["https://mirror:5000"]}},
        "configs": {"mirror:5000": {"tls": {"ca_file": "/ca.pem"}}},
    }
    merged = merge_registries(existing, ours)
    assert merged["configs"]["mirror:5000"] == {
        "auth": {"username": "u", "password": "p"},
        "tls": {"ca_file": "/ca.pem"},
    }
    assert set(merged["mirrors"]) == {"quay.io", "docker.io"}
