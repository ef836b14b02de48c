"""One typed settings object, read once at start and passed down.

Every field can be set from the environment as ``REELGATE_<NAME>``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MINIMAX_BASE_URL = "https://api.minimaxi.com"
SANDBOX_MOUNT = "/sandbox"


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

    minimax_api_key: SecretStr | None = Field(
        None, description="With this set the gateway talks to the real MiniMax service."
    )
    minimax_base_url: str = DEFAULT_MINIMAX_BASE_URL
    upstream_timeout_s: float = 30.0

    prices_file: Path | None = Field(
        None, description="A price table (TOML) replacing the shipped defaults."
    )
    download_url_ttl_s: int = Field(3600, description="Lifetime of signed download URLs.")
    task_deadline_s: int = Field(7200, description="An unfinished task fails after this long.")
    poll_initial_s: float = Field(1.0, description="First poll this long after submit.")
    poll_max_s: float = Field(30.0, description="Polling backs off up to this interval.")
    tracker_batch: int = Field(64, description="Tasks claimed per tracker round.")
    tracker_concurrency: int = Field(32, description="Upstream queries in flight at once.")
    lease_s: float = Field(60.0, description="How long a claimed task stays leased.")
    sweep_interval_s: float = Field(
        5.0, description="How often deadlines, interrupted submits and copies are swept."
    )

    sandbox_enabled: bool = Field(True, description="Mount the sandbox upstream at /sandbox.")
    sandbox_api_keys: list[str] = Field(
        default_factory=lambda: ["sandbox-key"], description="Keys the sandbox accepts."
    )
    sandbox_timings: str = Field(
        "fast",
        description="'fast', 'realistic', or seconds in Preparing,Queueing,Processing: '1,2,5'.",
        pattern=r"^(fast|realistic|\d+(\.\d+)?,\d+(\.\d+)?,\d+(\.\d+)?)$",
    )
    sandbox_allow_private_urls: bool = Field(
        False, description="Let the sandbox fetch image URLs on private or loopback addresses."
    )
    sandbox_render_workers: int = Field(2, description="Processes rendering sandbox videos.")
    sandbox_url_ttl_s: int = Field(3600, description="Lifetime of the sandbox's download URLs.")

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'reelgate.db').resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def upstream_base_url(self) -> str:
        """The MiniMax base URL the provider adapter talks to."""
        if self.minimax_api_key is not None:
            return self.minimax_base_url.rstrip("/")
        return self.base_url + SANDBOX_MOUNT

    @property
    def upstream_api_key(self) -> str:
        if self.minimax_api_key is not None:
            return self.minimax_api_key.get_secret_value()
        return self.sandbox_api_keys[0]

    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def sandbox_dir(self) -> Path:
        return self.data_dir / "sandbox"
