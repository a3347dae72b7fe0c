"""Archives built to exhaust the portal are refused early, with bounded memory, and the
message names the limit they hit. Memory is measured with tracemalloc (the peak of what
Python allocated while reading); no test measures time."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import pytest

from checklists import archives
from checklists.bundles import BundleError, BundleFile, build_bundle, bundle_files, read_archive
from tests import hostile_archives as hostile
from tests.factories import DEMO_MIGRATIONS, supabase_archive

MB = 1024 * 1024
# Each archive below unpacks to 190 MB or more (or a million entries): reading it whole
# takes several times this.
BOUNDED = 32 * MB


def refused(data: bytes, filename: str = "supabase.tar.gz") -> tuple[str, int]:
    """The refusal's message and the peak memory allocated while reading ``data``."""
    tracemalloc.start()
    try:
        with pytest.raises(BundleError) as refusal:
            read_archive(data, filename=filename)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return str(refusal.value), peak


@pytest.fixture(scope="module")
def pax_bomb():
    return hostile.pax_header_bomb(300 * MB)


def test_it_refuses_a_300_mb_pax_header_before_reading_it(pax_bomb):
    assert len(pax_bomb) < 1 * MB
    message, peak = refused(pax_bomb)
    assert "PAX metadata header of 300 MB" in message
    assert "the limit is 64 KB" in message
    assert peak < BOUNDED


def test_it_refuses_a_huge_gnu_long_name_before_reading_it():
    message, peak = refused(hostile.long_name_bomb(300 * MB))
    assert "long-name metadata header of 300 MB" in message
    assert peak < BOUNDED


def test_it_refuses_a_million_directory_entries_at_the_entry_limit():
    data = hostile.directory_flood(1_000_000)
    assert len(data) < archives.MAX_COMPRESSION_RATIO * MB  # not refused for its size
    message, peak = refused(data)
    assert f"more than {archives.MAX_ENTRIES:,} entries" in message
    assert "folders and metadata headers all count" in message
    assert peak < BOUNDED


def test_it_counts_a_zips_entries_before_opening_it():
    data = hostile.zip_flood(200_000)
    message, peak = refused(data, "supabase.zip")
    assert f"more than {archives.MAX_ENTRIES:,} entries" in message
    assert peak < BOUNDED


@pytest.fixture(scope="module")
def zero_zip():
    return hostile.zip_zero_file(190 * MB)


def test_it_refuses_a_190_mb_zero_file_in_a_200_kb_zip_by_its_compression_ratio(zero_zip):
    assert len(zero_zip) < 250 * 1024
    message, peak = refused(zero_zip, "supabase.zip")
    assert message.startswith("supabase.zip would unpack to more than")
    assert f"more than {archives.MAX_COMPRESSION_RATIO} times its own size" in message
    assert peak < BOUNDED


def test_it_bounds_the_compression_ratio_of_a_tar_gz_too():
    message, peak = refused(hostile.tar_zero_file(190 * MB))
    assert f"more than {archives.MAX_COMPRESSION_RATIO} times its own size" in message
    assert peak < BOUNDED


def test_a_small_archive_may_unpack_to_the_free_allowance_whatever_its_ratio():
    # A few megabytes of very repetitive SQL compress far better than 100:1.
    seed = "insert into app.members values (1, 'x');\n" * (5 * MB // 43)
    files = {**DEMO_MIGRATIONS, "tests/fixtures/seed.sql": seed}
    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(f"supabase/{name}", text)
    for name, data in [
        ("s.zip", deflated.getvalue()),
        ("s.tgz", supabase_archive(files, fmt="tgz")),
    ]:
        assert len(seed) > archives.MAX_COMPRESSION_RATIO * len(data)
        paths = [f.path for f in read_archive(data, filename=name)]
        assert "supabase/tests/fixtures/seed.sql" in paths


def test_the_portals_own_bundle_is_read_back_whatever_it_compresses_to():
    seed = ("insert into app.members values (1, 'x');\n" * (12 * MB // 43)).encode()
    files = read_archive(supabase_archive(DEMO_MIGRATIONS), filename="s.zip")
    bundle = build_bundle([*files, BundleFile("supabase/tests/fixtures/seed.sql", seed)])
    assert len(seed) > archives.MAX_COMPRESSION_RATIO * len(bundle)
    assert seed in [f.data for f in bundle_files(bundle)]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            hostile.tar_with_name(b"supabase/migrations/20250103000000_caf\xe9.sql"), id="tar"
        ),
        pytest.param(
            hostile.zip_with_name(
                b"supabase/migrations/20250103000000_caf\xe9.sql", utf8_flag=False
            ),
            id="zip",
        ),
        pytest.param(
            hostile.zip_with_name(
                b"supabase/migrations/20250103000000_caf\xe9\xe9.sql", utf8_flag=True
            ),
            id="zip-flagged-utf8",
        ),
    ],
)
def test_a_name_that_is_not_utf8_is_refused_with_the_name(data):
    message, _ = refused(data)
    assert "is not UTF-8 text" in message
    assert "20250103000000_caf\\xe9" in message
    assert "rename the file" in message


def test_a_zip_written_with_utf8_names_but_no_flag_keeps_them():
    name = "supabase/migrations/20250103000000_données.sql".encode()
    data = hostile.zip_with_name(name, utf8_flag=False)
    assert [f.path for f in read_archive(data, filename="s.zip")] == [name.decode()]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("supabase/migrations/20250103000000_" + "a" * 300 + ".sql", id="long-name"),
        pytest.param("supabase/tests/" + ("d" * 250 + "/") * 20 + "x.sql", id="long-path"),
    ],
)
def test_a_name_no_file_system_holds_is_refused_at_upload(name):
    """A name every job would fail to unpack (a part over 255 bytes, a path over the
    file system's limit) is refused when the archive is read, not by an internal error
    (OSError: File name too long) in every job of the release."""
    files = {"supabase/migrations/20250101000000_ok.sql": "select 1;\n", name: "select 1;\n"}
    data = supabase_archive({k.removeprefix("supabase/"): v for k, v in files.items()})
    message, _ = refused(data, filename="s.zip")
    assert "too long" in message, message
    assert "nothing was stored" in message
