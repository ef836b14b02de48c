"""What the gateway keeps of the upstream file object's unknown fields (issue 14, item 2):
scalars only, bounded, never a credential; URL-valued ones follow the gateway's copy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from reelgate.blobs.local import LocalStorage
from reelgate.domain.tasks import Task, TaskStatus, VideoFile
from reelgate.domain.upstream_fields import (
    KNOWN_FILE_FIELDS,
    MAX_FIELDS,
    MAX_TOTAL_BYTES,
    MAX_VALUE_CHARS,
    extra_fields,
    is_http_url,
)
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.services.files import FileObject, FileService
from reelgate.surfaces.minimax_v1.schemas import retrieved

UPSTREAM_KEY = "mm-secret-upstream-key-123"
BACKUP = "https://oss-us.example.com/v.mp4?Expires=1&OSSAccessKeyId=LTAI&Signature=abc"


def test_unknown_scalars_are_kept_in_order_and_known_fields_are_not() -> None:
    obj = {
        "file_id": 1,
        "download_url": "https://a",
        "backup_download_url": BACKUP,
        "width": 1280,
        "ratio": 1.5,
        "watermarked": False,
        "note": None,
    }
    kept = extra_fields(obj, KNOWN_FILE_FIELDS)
    assert kept == {
        "backup_download_url": BACKUP,
        "width": 1280,
        "ratio": 1.5,
        "watermarked": False,
        "note": None,
    }
    assert list(kept) == ["backup_download_url", "width", "ratio", "watermarked", "note"]


def test_what_is_not_a_plain_scalar_is_dropped() -> None:
    obj: dict[str, Any] = {
        "nested": {"a": 1},
        "listed": [1, 2],
        "nan": float("nan"),
        "huge": 2**63,
        "nul": "a\x00b",
        "surrogate": "\ud800",
        "long": "x" * (MAX_VALUE_CHARS + 1),
        "bad name!": "x",
        "n" * 65: "x",
        "fine": "x" * MAX_VALUE_CHARS,
    }
    assert extra_fields(obj, KNOWN_FILE_FIELDS) == {"fine": "x" * MAX_VALUE_CHARS}


def test_credentials_never_pass() -> None:
    obj = {
        "api_key": "k",
        "access_token": "t",
        "client_secret": "s",
        "Authorization": "Bearer x",
        "echo": f"Bearer {UPSTREAM_KEY}",
        "backup_download_url": BACKUP,
    }
    kept = extra_fields(obj, KNOWN_FILE_FIELDS, [UPSTREAM_KEY, ""])
    assert kept == {"backup_download_url": BACKUP}


def test_the_kept_fields_are_bounded_in_number_and_size() -> None:
    many = {f"f{i}": i for i in range(MAX_FIELDS + 10)}
    assert len(extra_fields(many, KNOWN_FILE_FIELDS)) == MAX_FIELDS
    big = {f"u{i}": "y" * (MAX_VALUE_CHARS - 10) for i in range(MAX_FIELDS)}
    kept = extra_fields(big, KNOWN_FILE_FIELDS)
    assert 0 < len(kept) < MAX_FIELDS
    assert len(json.dumps(kept, ensure_ascii=False).encode()) <= MAX_TOTAL_BYTES


def test_http_urls_are_recognised() -> None:
    assert is_http_url(BACKUP) and is_http_url("HTTP://x")
    assert not is_http_url("ftp://x") and not is_http_url(3) and not is_http_url("oss://b/k")


async def test_the_adapter_passes_the_upstreams_other_fields_without_its_key() -> None:
    answer = {
        "file": {
            "file_id": 55,
            "bytes": 9,
            "created_at": 1700000000,
            "filename": "output.mp4",
            "purpose": "video_generation",
            "download_url": "https://cdn.example.com/v.mp4",
            "backup_download_url": BACKUP,
            "debug": f"key={UPSTREAM_KEY}",
            "meta": {"x": 1},
        },
        "base_resp": {"status_code": 0, "status_msg": "success"},
    }

    def upstream(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as client:
        provider = MiniMaxProvider("mm", "https://api.example.com", UPSTREAM_KEY, client)
        info = await provider.retrieve_file("55")
    assert dict(info.extra) == {"backup_download_url": BACKUP}


def _task(file: VideoFile) -> Task:
    now = datetime.now(UTC)
    return Task(
        id=1,
        platform_id="video_01TEST",
        account_id=1,
        api_key_id=None,
        model="T2V-01",
        mode="t2v",
        status=TaskStatus.SUCCEEDED,
        upstream_status=None,
        upstream_task_id="1",
        channel="sandbox",
        request={},
        duration=6,
        resolution="720P",
        created_at=now,
        updated_at=now,
        finished_at=now,
        deadline_at=now,
        error_code=None,
        error_message=None,
        error_reason=None,
        file=file,
    )


def _files(tmp_path: Any) -> FileService:
    def no_upstream(name: str) -> Any:
        raise AssertionError("the upstream must not be asked: its URL is still fresh")

    return FileService(
        storage=LocalStorage(tmp_path),
        providers=no_upstream,
        secret=b"s" * 32,
        base_url="https://gw.example.com",
        url_ttl_s=3600,
    )


async def test_url_fields_follow_the_gateways_copy(tmp_path: Any) -> None:
    extra = {"backup_download_url": BACKUP, "cover": "http://img/c.jpg", "fps": 25}
    later = datetime(2999, 1, 1, tzinfo=UTC)
    upstream = VideoFile(
        "9", 1280, 720, upstream_url="https://cdn/v.mp4", upstream_url_expires_at=later, extra=extra
    )
    copied = VideoFile("9", 1280, 720, storage_key="2026/v.mp4", extra=extra)
    files = _files(tmp_path)

    ours = as_minimax(await files.file_object(_task(copied)))
    assert ours["download_url"].startswith("https://gw.example.com/files/")  # type: ignore[union-attr]
    assert ours["backup_download_url"] == ours["cover"] == ours["download_url"]
    assert ours["fps"] == 25 and BACKUP not in json.dumps(ours)

    theirs = as_minimax(await files.file_object(_task(upstream)))
    assert theirs["download_url"] == "https://cdn/v.mp4"
    assert theirs["backup_download_url"] == BACKUP and theirs["cover"] == "http://img/c.jpg"


def as_minimax(file: FileObject) -> dict[str, Any]:
    """The file object as the MiniMax surface writes it."""
    body: dict[str, Any] = retrieved(file).model_dump(mode="json", exclude_unset=True)["file"]
    return body


async def test_an_extra_field_never_overrides_the_gateways_own(tmp_path: Any) -> None:
    sneaky = VideoFile("9", 1, 1, storage_key="k", extra={"download_url": "https://evil"})
    body = as_minimax(await _files(tmp_path).file_object(_task(sneaky)))
    assert str(body["download_url"]).startswith("https://gw.example.com/files/")
