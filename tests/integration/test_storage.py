"""The Storage port against a local folder and a real S3-compatible server (moto)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelgate.api.files import RangeNotSatisfiable, byte_range
from reelgate.blobs.base import Storage, StorageError
from reelgate.blobs.local import LocalStorage
from reelgate.blobs.s3 import MIN_PART_SIZE, S3Config, S3Storage
from reelgate.errors import UpstreamUnavailable
from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, moto_server
from tests.support import free_port

# The store plays no part: one pass is enough.
pytestmark = [pytest.mark.once]

BUCKET = "reelgate-storage-test"
KEY = "2025/01/02/video_01TEST.mp4"


def payload(size: int, seed: int = 0) -> bytes:
    """Bytes that differ everywhere, so a misplaced range cannot pass."""
    out = bytearray()
    block = seed.to_bytes(4, "big")
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


async def chunked(data: bytes, chunk: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), chunk):
        yield data[i : i + chunk]


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        s3 = server.client()
        try:
            s3.create_bucket(Bucket=BUCKET)
        finally:
            s3.close()
        yield server


def s3_config(url: str, **kw: Any) -> S3Config:
    return S3Config(
        bucket=kw.pop("bucket", BUCKET),
        prefix=kw.pop("prefix", f"t-{uuid.uuid4().hex[:8]}/"),
        endpoint_url=url,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        addressing_style="path",
        part_size=MIN_PART_SIZE,
        **kw,
    )


@pytest.fixture(params=["local", "s3"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, moto: MotoServer
) -> AsyncIterator[Storage]:
    if request.param == "local":
        store: Storage = LocalStorage(tmp_path / "videos")
    else:
        store = S3Storage(s3_config(moto.url))
    try:
        yield store
    finally:
        await store.aclose()


def incomplete_uploads(moto: MotoServer) -> list[Any]:
    s3 = moto.client()
    try:
        return list(s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))
    finally:
        s3.close()


async def test_save_streams_and_records_size_and_digest(storage: Storage) -> None:
    data = payload(300_001)
    stored = await storage.save(KEY, chunked(data, 40_000))
    assert (stored.key, stored.size) == (KEY, len(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await storage.exists(KEY)
    assert await storage.size(KEY) == len(data)
    assert await collect(storage.read(KEY)) == data
    assert not await storage.exists("2025/01/02/other.mp4")
    assert await storage.size("2025/01/02/other.mp4") is None


async def test_save_replaces_an_object(storage: Storage) -> None:
    await storage.save(KEY, chunked(b"first version", 4))
    await storage.save(KEY, chunked(b"second", 4))
    assert await collect(storage.read(KEY)) == b"second"


async def test_a_long_stream_goes_up_in_parts(storage: Storage, moto: MotoServer) -> None:
    data = payload(2 * MIN_PART_SIZE + 123_456, seed=1)  # three parts on S3
    stored = await storage.save(KEY, chunked(data, 1 << 20))
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(await collect(storage.read(KEY))).hexdigest() == stored.sha256
    assert incomplete_uploads(moto) == []


async def test_ranged_reads(storage: Storage) -> None:
    data = payload(200_000, seed=2)
    await storage.save(KEY, chunked(data, 65_536))
    assert await collect(storage.read(KEY, 0, 100)) == data[:100]
    assert await collect(storage.read(KEY, 70_000, 140_001)) == data[70_000:140_001]
    assert await collect(storage.read(KEY, len(data) - 5)) == data[-5:]
    assert await collect(storage.read(KEY, 10, 10)) == b""


async def test_reading_a_missing_object(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        await collect(storage.read("2025/01/02/missing.mp4"))


async def test_a_failed_save_leaves_nothing(storage: Storage, moto: MotoServer) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield payload(MIN_PART_SIZE + 1)  # far enough for S3 to start a multipart upload
        raise UpstreamUnavailable("upstream download answered 404")

    with pytest.raises(UpstreamUnavailable):
        await storage.save(KEY, broken())
    assert not await storage.exists(KEY)
    assert incomplete_uploads(moto) == []


@pytest.mark.parametrize("key", ["../escape.mp4", "a/../../escape.mp4", "/etc/passwd", ""])
async def test_keys_that_escape_the_root_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="escapes the root"):
        await storage.save(key, chunked(b"x", 1))
    with pytest.raises(ValueError, match="escapes the root"):
        await storage.exists(key)


async def test_local_keys_stay_under_the_root(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "videos")
    assert store.local_path(KEY) == (tmp_path / "videos" / KEY).resolve()
    with pytest.raises(ValueError):
        store.local_path("../../outside.mp4")
    (tmp_path / "videos" / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError):
        store.local_path("link/outside.mp4")
    assert await store.presigned_url(KEY, 60, "v.mp4") is None


async def test_presigned_url_works_with_a_plain_get(moto: MotoServer) -> None:
    store = S3Storage(s3_config(moto.url, prefix="videos"))
    try:
        data = payload(123_457, seed=3)
        await store.save(KEY, chunked(data, 10_000))
        url = await store.presigned_url(KEY, 300, "video_01TEST.mp4")
        assert url is not None and "/videos/2025/01/02/" in url and "X-Amz-Expires=300" in url
        async with httpx.AsyncClient(trust_env=False) as http:
            whole = await http.get(url)
            part = await http.get(url, headers={"Range": "bytes=100-199"})
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["content-type"] == "video/mp4"
        assert 'filename="video_01TEST.mp4"' in whole.headers["content-disposition"]
        assert part.status_code == 206 and part.content == data[100:200]
        # the lifetime asked for is clamped to what SigV4 allows
        week = await store.presigned_url(KEY, 10**9, "v.mp4")
        assert week is not None and "X-Amz-Expires=604800" in week
    finally:
        await store.aclose()


async def test_an_unreachable_store_raises_storage_error() -> None:
    store = S3Storage(s3_config(f"http://127.0.0.1:{free_port()}", max_attempts=1))
    try:
        with pytest.raises(StorageError):
            await store.save(KEY, chunked(b"video", 2))
        with pytest.raises(StorageError):
            await store.size(KEY)
    finally:
        await store.aclose()


async def test_a_missing_bucket_raises_storage_error(moto: MotoServer) -> None:
    store = S3Storage(s3_config(moto.url, bucket="no-such-bucket"))
    try:
        with pytest.raises(StorageError, match="NoSuchBucket"):
            await store.save(KEY, chunked(b"video", 2))
    finally:
        await store.aclose()


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ValueError):
        S3Storage(S3Config(bucket=BUCKET, part_size=1 << 20))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, 1000)),
        ("bytes=990-5000", (990, 1000)),
        ("bytes=-10", (990, 1000)),
        ("bytes=-5000", (0, 1000)),
        ("bytes=0-0", (0, 1)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole object
        ("bytes=9-3", None),  # malformed: ignored
        ("items=0-9", None),
        ("bytes=a-b", None),
        ("bytes=", None),
    ],
)
def test_byte_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", 1000), ("bytes=-0", 1000), ("bytes=-5", 0)]
)
def test_byte_range_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, size)
