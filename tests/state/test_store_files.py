"""The SQLite store's files hold client secrets and PKCE challenges: private to their owner."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.state import dev_key_folder
from builder.state.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Umask 0: whatever the store leaves as it came would be world-writable."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files(path: Path) -> list[Path]:
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


async def test_new_store_files_and_folders_are_private(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "state" / "deeper" / "s.db"
    store = SQLiteStore(path)
    await store.save_client("c", {"client_secret": "s3cret"})  # the WAL has content
    assert {str(p.name): oct(mode(p)) for p in files(path)} == {
        "s.db": "0o600",
        "s.db-wal": "0o600",
        "s.db-shm": "0o600",
    }
    assert oct(mode(tmp_path / "state")) == oct(mode(tmp_path / "state" / "deeper")) == "0o700"
    await store.close()


async def test_a_folder_that_exists_is_left_as_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o755)
    store = SQLiteStore(folder / "s.db")
    assert mode(folder) == 0o755
    assert mode(folder / "s.db") == 0o600
    await store.close()


async def test_existing_readable_store_files_are_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.db"
    first = SQLiteStore(path)  # kept open, so the -wal and -shm files stay
    await first.save_client("c", {"client_secret": "s3cret"})
    for each in files(path):
        each.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="mcpbuild.store"):
        second = SQLiteStore(path)
    assert [mode(p) for p in files(path)] == [0o600] * 3
    warned = [r for r in caplog.records if r.getMessage().startswith("store file was readable")]
    assert sorted(r.path for r in warned) == sorted(str(p) for p in files(path))  # type: ignore[attr-defined]
    assert await second.get_client("c") == {"client_secret": "s3cret"}
    await second.close()
    await first.close()


async def test_a_private_file_is_opened_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.db"
    await SQLiteStore(path).close()
    with caplog.at_level(logging.WARNING, logger="mcpbuild.store"):
        store = SQLiteStore(path)
    assert caplog.records == []
    await store.close()


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("sqlite:///state/app.db", "state"),
        ("sqlite:///:memory:", ".mcpbuild"),
        ("redis://127.0.0.1:6379/0", ".mcpbuild"),
        ("rediss://user:pw@cache.example.com:6380/1?prefix=x", ".mcpbuild"),
    ],
)
def test_the_dev_key_lives_beside_a_sqlite_file_else_in_dot_mcpbuild(url: str, folder: str) -> None:
    assert dev_key_folder(url) == Path(folder)
