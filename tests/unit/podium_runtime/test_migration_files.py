"""Loading migration files: numbered, gap-free, named plainly; every data-owning service ships some."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium_runtime.migrations import MigrationError, load_migrations, service_migrations


@pytest.fixture
def make_package(tmp_path: Path, unique: str) -> Iterator[object]:
    sys.path.insert(0, str(tmp_path))

    def make(files: dict[str, str]) -> str:
        name = f"pkg_{unique}_{len(list(tmp_path.iterdir()))}"
        (tmp_path / name / "sql").mkdir(parents=True)
        (tmp_path / name / "__init__.py").write_text("")
        for file_name, sql in files.items():
            (tmp_path / name / "sql" / file_name).write_text(sql)
        return name

    yield make
    sys.path.remove(str(tmp_path))


def test_files_load_in_version_order(make_package) -> None:
    package = make_package({"002_more.sql": "SELECT 2;", "001_init.sql": "SELECT 1;", "README.txt": "ignored"})
    migrations = load_migrations(package)
    assert [(m.version, m.name, m.sql) for m in migrations] == [(1, "init", "SELECT 1;"), (2, "more", "SELECT 2;")]
    assert migrations[0].component == package


@pytest.mark.parametrize(
    ("files", "complaint"),
    [
        ({"001_init.sql": "", "003_skip.sql": ""}, "without gaps"),
        ({"002_init.sql": ""}, "without gaps"),
        ({"1_init.sql": ""}, "must look like"),
        ({"001_Init Table.sql": ""}, "must look like"),
    ],
)
def test_badly_numbered_or_named_files_are_refused(make_package, files: dict[str, str], complaint: str) -> None:
    with pytest.raises(MigrationError, match=complaint):
        load_migrations(make_package(files))


@pytest.mark.parametrize("package", ["auth_service", "submission_service", "leaderboard_service"])
def test_data_owning_services_get_the_outbox_first(package: str) -> None:
    migrations = service_migrations(package)
    assert migrations[0].component == "podium_runtime"
    assert "CREATE TABLE outbox" in migrations[0].sql
    assert any(m.component == package for m in migrations)
