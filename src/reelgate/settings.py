"""One typed settings object, read once at start and passed down.

Every field can be set from the environment as ``REELGATE_<NAME>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MINIMAX_BASE_URL = "https://api.minimaxi.com"
SANDBOX_MOUNT = "/sandbox"
# The largest valid MiniMax create: first and last frame, each an image of up to 20 MiB
# as a base64 data URL (4/3 of it: 27,962,028 characters), 53.3 MiB together; 2.7 MiB
# more covers the prompt, the URLs, whitespace and JSON escapes ("\/" in base64).
DEFAULT_MAX_BODY_BYTES = 56 * 1024 * 1024
# The key `reelgate sandbox` (standalone, a dev tool started on purpose) accepts unless
# REELGATE_SANDBOX_API_KEYS says otherwise. The sandbox mounted in a gateway never uses it.
STANDALONE_SANDBOX_KEY = "sandbox-key"


class Settings(BaseSettings):
    """Configuration of the gateway, its worker and the built-in sandbox."""

    model_config = SettingsConfigDict(env_prefix="REELGATE_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the store, videos and sandbox live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default SQLite (WAL) in the data directory."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = Field(
        None, description="Base URL clients reach the gateway at; default http://host:port."
    )

    admin_token: SecretStr | None = Field(None, description="Fixes the admin token at bootstrap.")
    bootstrap_api_key: SecretStr | None = Field(
        None, description="Fixes the default account's first API key at bootstrap."
    )
    bootstrap_balance: int = Field(
        100_000, description="Credit (minor units) the default account starts with."
    )
    secret_key: SecretStr | None = Field(
        None, description="Signs download URLs; generated and kept in the store if unset."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="A bearer token that may read /metrics and nothing else (for a Prometheus "
        "scraper). /metrics always accepts the admin token; with neither it answers 401.",
    )

    minimax_api_key: SecretStr | None = Field(
        None, description="With this set the gateway talks to the real MiniMax service."
    )
    minimax_base_url: str = DEFAULT_MINIMAX_BASE_URL
    upstream_timeout_s: float = 30.0
    channels_file: Path | None = Field(
        None, description="A TOML file of upstream channels ([[channels]] entries)."
    )
    default_channel_rpm: int | None = Field(
        None, description="Requests per minute for the implicit channel (none: no budget)."
    )
    channel_budget_window_s: float = Field(
        60.0, description="The window of a channel's rpm budget (shorter only for tests)."
    )
    channel_cooldown_s: float = Field(
        5.0, description="First cool-down of a failing channel; it doubles on each failure."
    )
    submit_deadline_s: float = Field(
        60.0, description="How long a create may spend trying channels before it gives up."
    )
    pushed_poll_s: float = Field(
        60.0, description="Polling interval for tasks whose upstream pushes changes."
    )

    prices_file: Path | None = Field(
        None, description="A price table (TOML) replacing the shipped defaults."
    )
    allow_private_urls: bool = Field(
        False,
        description="Let the gateway call client URLs (callbacks) on private or loopback "
        "addresses; for tests and closed networks only.",
    )
    callback_retry_window_s: float = Field(
        86400.0, description="How long a callback is retried before it is given up."
    )
    callback_retry_first_s: float = Field(
        5.0, description="The first retry delay of a callback; it doubles each time."
    )
    idempotency_ttl_s: int = Field(86400, description="How long Idempotency-Keys are kept.")
    idempotency_lease_s: float | None = Field(
        None,
        gt=0,
        description="How long a request holds its Idempotency-Key unless it renews it (it does "
        "while it runs); a retry after that takes the key over from a process that died. "
        "Default: submit_deadline_s + upstream_timeout_s + 30.",
    )
    download_url_ttl_s: int = Field(3600, description="Lifetime of signed download URLs.")
    copy_videos: Literal["always", "never"] = Field(
        "always",
        description="'always': copy each finished video into the gateway's storage; 'never': "
        "pass the upstream's (short-lived) URL through. See docs/storage.md.",
    )
    storage_backend: Literal["local", "s3"] = Field(
        "local", description="Where copies live: 'local' (data_dir/videos) or 's3'."
    )
    storage_s3_bucket: str | None = Field(None, description="The bucket (storage_backend=s3).")
    storage_s3_endpoint_url: str | None = Field(
        None, description="An S3-compatible endpoint (MinIO, R2...); unset for AWS S3."
    )
    storage_s3_region: str | None = Field(None, description="The bucket's region.")
    storage_s3_access_key_id: str | None = Field(
        None, description="Unset: botocore's default chain (AWS_* env, profile, instance role)."
    )
    storage_s3_secret_access_key: SecretStr | None = None
    storage_s3_prefix: str = Field("", description="Prepended to every object name.")
    storage_s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="'path' for most self-hosted S3-compatible servers (MinIO)."
    )
    storage_s3_serve: Literal["proxy", "redirect"] = Field(
        "proxy",
        description="'proxy': signed download URLs stream the object through the gateway; "
        "'redirect': they answer 302 to a presigned URL of the bucket (which clients must reach).",
    )
    task_deadline_s: int = Field(7200, description="An unfinished task fails after this long.")
    poll_initial_s: float = Field(1.0, description="First poll this long after submit.")
    poll_max_s: float = Field(30.0, description="Polling backs off up to this interval.")
    tracker_batch: int = Field(64, description="Tasks claimed per tracker round.")
    tracker_concurrency: int = Field(32, description="Upstream queries in flight at once.")
    lease_s: float = Field(60.0, description="How long a claimed task stays leased.")
    sweep_interval_s: float = Field(
        5.0, description="How often deadlines, interrupted submits and copies are swept."
    )

    # Running at scale (docs/scale.md): several replicas and workers over one store.
    auto_migrate: bool | None = Field(
        None,
        description="Bring the schema up to date at start. Unset: only the single-process "
        "gateway (`serve` with its worker) does; `serve --no-worker` and `worker` refuse a "
        "schema that is not current and say to run `reelgate migrate`.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis shared by all replicas and workers (rate limits, channel budgets, "
        "live events), e.g. redis://127.0.0.1:6379/0. Unset: each process keeps its own.",
    )
    redis_prefix: str = Field(
        "reelgate:", description="Prepended to every Redis key and channel this gateway uses."
    )
    redis_timeout_s: float = Field(
        0.5, gt=0, description="A Redis call that takes longer counts as Redis being down."
    )
    worker_shutdown_grace_s: float = Field(
        10.0, ge=0, description="On SIGTERM, how long the worker lets its loops finish a round."
    )
    worker_max_crashes: int = Field(
        5, ge=1, description="A loop that crashes this often within the window stops the worker."
    )
    worker_crash_window_s: float = Field(
        60.0, gt=0, description="The window over which a worker loop's crashes are counted."
    )

    # Bad input stays cheap (docs/security.md): request size, slow clients, live streams.
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES,
        gt=0,
        description="The largest create body (video_generation) read; a larger one is refused "
        "(413) before it is buffered. Default 56 MiB: the largest valid MiniMax request, two "
        "20 MB images as base64 data URLs (2 x 26.7 MiB), plus room for the rest and JSON "
        "escapes. Every other route reads at most 1 MiB.",
    )
    http_head_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A connection must send a complete request head (request line and "
        "headers) within this long of opening or of its previous answer, or it is closed.",
    )
    http_body_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A request body that sends nothing for this long is cut (408).",
    )
    max_event_streams_per_key: int = Field(
        20,
        ge=1,
        description="Open /v1/tasks/{id}/events streams an API key may hold per process; one "
        "more answers 429 until one closes.",
    )
    event_stream_keepalive_s: float = Field(
        15.0,
        gt=0,
        description="An idle event stream sends a keep-alive comment this often (and, where "
        "a change made by another process may go unheard, re-reads the store).",
    )

    sandbox_enabled: bool | None = Field(
        None,
        description="Mount the sandbox upstream at /sandbox. Unset: mounted only when no "
        "REELGATE_MINIMAX_API_KEY is set (a gateway in front of the real service has none).",
    )
    sandbox_api_keys: list[str] | None = Field(
        None,
        description="Keys the sandbox accepts (a JSON list). Unset: the mounted sandbox "
        "accepts one secret key generated at first start and kept in the store (the implicit "
        "channel uses it); `reelgate sandbox` accepts 'sandbox-key'.",
    )
    sandbox_timings: str = Field(
        "fast",
        description="'fast', 'realistic', or seconds in Preparing,Queueing,Processing: '1,2,5'.",
        pattern=r"^(fast|realistic|\d+(\.\d+)?,\d+(\.\d+)?,\d+(\.\d+)?)$",
    )
    sandbox_allow_private_urls: bool = Field(
        False,
        description="Let the sandbox fetch image URLs and call callback URLs on private "
        "or loopback addresses.",
    )
    sandbox_render: Literal["full", "stub"] = Field(
        "full",
        description="'stub' gives every task one tiny shared clip (load tests); 'full' "
        "renders each video.",
    )
    sandbox_render_workers: int = Field(2, description="Processes rendering sandbox videos.")
    sandbox_url_ttl_s: int = Field(3600, description="Lifetime of the sandbox's download URLs.")
    sandbox_rpm: int | None = Field(
        None,
        ge=0,
        description="Calls (create, query, retrieve) per minute per sandbox key; 0 = unlimited. "
        "Default: 20 for `reelgate sandbox`, unlimited when mounted in the gateway.",
    )
    sandbox_faults: str = Field(
        "",
        description="Injected faults as kind=rate pairs, e.g. 'refuse_1002=0.1,http_5xx=0.05'. "
        "Kinds: refuse_1002, refuse_1000, refuse_1026, http_5xx, slow, timeout, fail_midway, "
        "forget, download_404. See docs/sandbox.md.",
    )
    sandbox_fault_seed: int = Field(0, description="Seed of the fault decisions (reproducible).")
    sandbox_slow_s: float = Field(2.0, ge=0, description="How long a 'slow' fault delays.")
    sandbox_hang_s: float = Field(
        60.0, ge=0, description="How long a 'timeout' fault hangs unless the client leaves."
    )

    @field_validator("admin_token", "bootstrap_api_key", "metrics_token", "secret_key")
    @classmethod
    def _no_blank_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty REELGATE_ADMIN_TOKEN would fix a credential nobody can present (a blank
        # bearer never authenticates): refuse it at start rather than lock the operator out.
        if value is not None and len(value.get_secret_value().strip()) < 8:
            raise ValueError("must be at least 8 characters (unset it to have one generated)")
        return value

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'reelgate.db').resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return self.local_base_url

    @property
    def local_base_url(self) -> str:
        """This process's own address, as it reaches itself: a wildcard bind (0.0.0.0,
        ::) is reached on the loopback."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 literal
        return f"http://{host}:{self.port}"

    @property
    def upstream_base_url(self) -> str:
        """The MiniMax base URL the provider adapter talks to."""
        if self.minimax_api_key is not None:
            return self.minimax_base_url.rstrip("/")
        # the mounted sandbox is this process: reached on its own address, never through
        # the public URL, which may name a proxy or a host the container cannot reach
        return self.local_base_url + SANDBOX_MOUNT

    @property
    def sandbox_mounted(self) -> bool:
        """Whether the gateway mounts the sandbox: as asked, else only without a real key."""
        if self.sandbox_enabled is not None:
            return self.sandbox_enabled
        return self.minimax_api_key is None

    @property
    def idempotency_lease(self) -> float:
        """Seconds an Idempotency-Key stays with its request between renewals: a bit more
        than the longest a create may take (trying channels, then one upstream call)."""
        if self.idempotency_lease_s is not None:
            return self.idempotency_lease_s
        return self.submit_deadline_s + self.upstream_timeout_s + 30.0

    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def sandbox_dir(self) -> Path:
        return self.data_dir / "sandbox"
