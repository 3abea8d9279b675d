"""Where `images push` finds airgap archives: by the layout core/layouts.py owns (real files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeferry.errors import NotFoundError
from kubeferry.registry.archives import archives_in_folder, resolve_archives

TAG = "v1.32.3+k3s1"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"archive")
    return path


def test_one_archive_per_tag_and_arch_the_tar_preferred(tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    zst = _touch(folder / "k3s" / TAG / "k3s-airgap-images-amd64.tar.zst")
    tar = _touch(folder / "k3s" / TAG / "k3s-airgap-images-amd64.tar")
    arm = _touch(folder / "k3s" / TAG / "k3s-airgap-images-arm64.tar.zst")
    _touch(folder / "k3s" / TAG / "k3s")  # the binary is no archive
    _touch(folder / "k3s" / f"tmp-{TAG}-kubeferry" / "k3s-airgap-images-amd64.tar")  # staging
    _touch(folder / "k3s" / TAG / "k3s-airgap-images-amd64.tar.gz")  # not a layout name
    assert archives_in_folder(folder) == [tar, arm]
    tar.unlink()
    assert archives_in_folder(folder) == [zst, arm]


def test_a_linked_archive_is_not_taken(tmp_path: Path) -> None:
    outside = _touch(tmp_path / "outside.tar")
    link = tmp_path / "bundle" / "k3s" / TAG / "k3s-airgap-images-amd64.tar"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    assert archives_in_folder(tmp_path / "bundle") == []
    with pytest.raises(NotFoundError, match="holds no k3s/<tag>/k3s-airgap-images"):
        resolve_archives((str(tmp_path / "bundle"),), tmp_path / "cache", ("amd64",))


def test_files_folders_and_cached_versions_each_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cached = _touch(cache / "k3s" / TAG / "k3s-airgap-images-amd64.tar.zst")
    single = _touch(tmp_path / "one.tar")
    found = resolve_archives(
        (str(single), TAG.removeprefix("v"), str(cache), str(single)), cache, ("amd64",)
    )
    assert found == [single, cached]
    with pytest.raises(NotFoundError, match=r"v9\.9\.9.*cached: v1\.32\.3\+k3s1"):
        resolve_archives(("v9.9.9",), cache, ("amd64",))
