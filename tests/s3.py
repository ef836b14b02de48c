"""A real S3-compatible server for tests: moto in server mode, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx

from tests.support import Server, free_port, migrated_database

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


@dataclass(frozen=True)
class MotoServer:
    url: str

    def client(self) -> Any:
        """A plain boto3 client for the test's own checks; close it when done."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def env(self, bucket: str, **extra: str) -> dict[str, str]:
        """The gateway's settings for this server's ``bucket``."""
        return {
            "REELGATE_STORAGE_BACKEND": "s3",
            "REELGATE_STORAGE_S3_ENDPOINT_URL": self.url,
            "REELGATE_STORAGE_S3_BUCKET": bucket,
            "REELGATE_STORAGE_S3_REGION": REGION,
            "REELGATE_STORAGE_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "REELGATE_STORAGE_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "REELGATE_STORAGE_S3_ADDRESSING_STYLE": "path",
            **{f"REELGATE_{k.upper()}": v for k, v in extra.items()},
        }


@contextmanager
def moto_server(timeout: float = 30.0) -> Iterator[MotoServer]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError("moto server exited early")
            try:
                if httpx.get(url + "/moto-api/", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
        yield MotoServer(url)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def gateways(root: Path, envs: Mapping[str, dict[str, str]]) -> Iterator[dict[str, Server]]:
    """One ``reelgate serve`` per entry of ``envs``, each on a store of its own, started
    side by side (a start costs seconds) and stopped at the end."""
    with ExitStack() as stack:
        servers = {}
        for name, env in envs.items():
            data_dir = root / name
            url = stack.enter_context(migrated_database(data_dir))
            servers[name] = Server(data_dir=data_dir, database_url=url, env=env)
            stack.callback(servers[name].stop)
        with ThreadPoolExecutor(len(servers) or 1) as pool:
            for started in [pool.submit(srv.start) for srv in servers.values()]:
                started.result()
        yield servers
