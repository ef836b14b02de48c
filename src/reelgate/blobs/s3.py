"""Videos in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Ceph, moto...).

Objects are named ``<prefix><key>``. A save streams: up to ``part_size`` bytes are held in
memory, a video that fits is sent with one PUT, a longer one as a multipart upload (aborted
if anything fails, so no half object is ever visible). Every botocore, aiobotocore and
aiohttp exception stops here: callers see ``StorageError`` or ``FileNotFoundError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from reelgate.blobs.base import CHUNK, StorageError, StoredObject, check_key

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 << 20  # S3's smallest part but the last
MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week
CONTENT_TYPE = "video/mp4"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})

AddressingStyle = Literal["auto", "path", "virtual"]


@dataclass(frozen=True, slots=True)
class S3Config:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None  # None: AWS, by region
    region: str | None = None
    access_key_id: str | None = None  # None: botocore's default chain (env, profile, role)
    secret_access_key: str | None = None
    addressing_style: AddressingStyle = "auto"
    part_size: int = 8 << 20
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_attempts: int = 3  # per call, with botocore's standard backoff


@contextlib.contextmanager
def _translate(what: str) -> Iterator[None]:
    """Backend exceptions into the port's: FileNotFoundError or StorageError."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _MISSING:
            raise FileNotFoundError(f"s3 {what}: no such object") from None
        raise StorageError(f"s3 {what} failed: {code} {error.get('Message', '')}".strip()) from None
    except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
        raise StorageError(f"s3 {what} failed: {exc.__class__.__name__}: {exc}") from None


class S3Storage:
    def __init__(self, config: S3Config) -> None:
        if config.part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.config = config
        self.bucket = config.bucket
        prefix = config.prefix.strip("/")
        self.prefix = prefix + "/" if prefix else ""
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None
        self._lock = asyncio.Lock()

    def object_name(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def _s3(self) -> S3Client:
        """The client, made on first use (so that building the storage does no I/O)."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    cfg = self.config
                    config = AioConfig(
                        signature_version="s3v4",
                        s3={"addressing_style": cfg.addressing_style},
                        connect_timeout=cfg.connect_timeout_s,
                        read_timeout=cfg.read_timeout_s,
                        retries={"mode": "standard", "max_attempts": cfg.max_attempts},
                        # S3-compatible servers vary in their support of the newer
                        # default checksums; send them only where the API requires them.
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required",
                    )
                    creator = get_session().create_client(
                        "s3",
                        endpoint_url=cfg.endpoint_url,
                        region_name=cfg.region,
                        aws_access_key_id=cfg.access_key_id,
                        aws_secret_access_key=cfg.secret_access_key,
                        config=config,
                    )
                    with _translate("connect"):
                        self._client = await self._stack.enter_async_context(creator)
        return self._client

    def local_path(self, key: str) -> Path | None:
        return None

    async def size(self, key: str) -> int | None:
        s3 = await self._s3()
        try:
            with _translate("head"):
                head = await s3.head_object(Bucket=self.bucket, Key=self.object_name(key))
        except FileNotFoundError:
            return None
        return int(head["ContentLength"])

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        with _translate("delete"):  # S3 answers a missing key with success too
            await s3.delete_object(Bucket=self.bucket, Key=self.object_name(key))

    async def save(self, key: str, chunks: AsyncIterator[bytes]) -> StoredObject:
        name = self.object_name(key)
        s3 = await self._s3()
        part_size = self.config.part_size
        digest = hashlib.sha256()
        size = 0
        buf = bytearray()
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []

        async def send_part(data: bytes) -> None:
            nonlocal upload_id
            if upload_id is None:
                with _translate("create multipart upload"):
                    created = await s3.create_multipart_upload(
                        Bucket=self.bucket, Key=name, ContentType=CONTENT_TYPE
                    )
                upload_id = created["UploadId"]
            number = len(parts) + 1
            with _translate("upload part"):
                sent = await s3.upload_part(
                    Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=data
                )
            parts.append({"PartNumber": number, "ETag": sent["ETag"]})

        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buf += chunk
                while len(buf) >= part_size:
                    await send_part(bytes(buf[:part_size]))
                    del buf[:part_size]
            if upload_id is None:
                with _translate("put"):
                    await s3.put_object(
                        Bucket=self.bucket, Key=name, Body=bytes(buf), ContentType=CONTENT_TYPE
                    )
            else:
                if buf:
                    await send_part(bytes(buf))
                with _translate("complete multipart upload"):
                    await s3.complete_multipart_upload(
                        Bucket=self.bucket,
                        Key=name,
                        UploadId=upload_id,
                        MultipartUpload={"Parts": parts},
                    )
        except BaseException:
            if upload_id is not None:
                await self._abort(s3, name, upload_id)
            raise
        return StoredObject(key, size, digest.hexdigest())

    async def _abort(self, s3: S3Client, name: str, upload_id: str) -> None:
        try:
            with _translate("abort multipart upload"):
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        except (StorageError, FileNotFoundError) as exc:
            # A lifecycle rule for incomplete uploads cleans up what this could not.
            log.warning("could not abort the multipart upload of %s: %s", name, exc)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        s3 = await self._s3()
        name = self.object_name(key)
        if end is not None and end <= start:
            return
        with _translate("get"):
            if start or end is not None:
                last = "" if end is None else str(end - 1)
                got = await s3.get_object(
                    Bucket=self.bucket, Key=name, Range=f"bytes={start}-{last}"
                )
            else:
                got = await s3.get_object(Bucket=self.bucket, Key=name)
        async with got["Body"] as body:
            stream = body.iter_chunks(CHUNK)
            while True:
                with _translate("read"):
                    chunk = await anext(stream, b"")
                if not chunk:
                    return
                yield chunk

    async def presigned_url(self, key: str, expires_in: int, filename: str) -> str | None:
        s3 = await self._s3()
        quoted = quote(filename)
        disposition = (
            f'attachment; filename="{filename}"'
            if quoted == filename
            else f"attachment; filename*=utf-8''{quoted}"
        )
        with _translate("presign"):
            return await s3.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.object_name(key),
                    "ResponseContentType": CONTENT_TYPE,
                    "ResponseContentDisposition": disposition,
                },
                ExpiresIn=max(1, min(expires_in, MAX_PRESIGN_S)),
            )

    async def aclose(self) -> None:
        self._client = None
        await self._stack.aclose()
