"""The container artifacts hold together (issue 20). Their public images (PostgreSQL,
Redis, MinIO, Caddy) cannot be pulled where the tests run, so compose/compose.yaml is
checked here instead of started: it parses; every reelgate service runs a command that the
image's CLI has; every variable it uses is documented and every REELGATE_ one is a
setting; `migrate` runs once before the gateway; two API replicas sit behind the proxy,
which routes on /readyz; the embedded default runs alone in a profile of its own.
`make image-test` runs the image itself (docs/containers.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from reelgate.cli import app
from reelgate.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose" / "compose.yaml"
CADDYFILE = ROOT / "compose" / "Caddyfile"
ENV_EXAMPLE = ROOT / "compose" / "env.example"
CONTAINERFILE = ROOT / "Containerfile"
# ${NAME}, ${NAME:-default}, ${NAME:?message} and $NAME; "$$" is a literal dollar sign
INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)[^}]*\}|\$([A-Za-z_]\w*)")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def runs_the_image(service: dict[str, Any]) -> bool:
    """A service of reelgate's own image: built from the Containerfile."""
    return service.get("build", {}).get("dockerfile") == "Containerfile"


def gateway_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services().items() if runs_the_image(s)}


def cli_problem(args: list[str]) -> str | None:
    """Why the image's CLI (ENTRYPOINT reelgate) would refuse these arguments, or None.
    With --help appended the CLI parses them all (an unknown command or option is an
    error, exit 2) and then prints its help instead of running."""
    if not args:
        return "no command: the CLI would only print its help"
    result = CliRunner().invoke(app, [*args, "--help"])
    return None if result.exit_code == 0 else result.output


def variables(text: str) -> set[str]:
    """The variables a compose file interpolates."""
    return {a or b for a, b in INTERPOLATION.findall(text) if a or b}


def env_names(text: str) -> set[str]:
    """The variables an env file sets."""
    lines = (line.strip() for line in text.splitlines())
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def docs_text() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(page.read_text() for page in pages)


def undocumented(names: set[str], docs: str) -> list[str]:
    """Names the docs never mention, and REELGATE_ names that are no setting."""
    missing = [n for n in sorted(names) if not re.search(rf"\b{re.escape(n)}\b", docs)]
    fields = Settings.model_fields
    unknown = [
        n for n in sorted(names) if n.startswith("REELGATE_") and n[9:].lower() not in fields
    ]
    return missing + [f"{n} (no such setting)" for n in unknown]


def used_variables() -> set[str]:
    """What an operator may set: interpolations, env.example, the gateway's environment."""
    names = variables(COMPOSE.read_text()) | env_names(ENV_EXAMPLE.read_text())
    for service in gateway_services().values():
        names |= set(service.get("environment", {}))
    return names


def test_the_compose_file_parses_and_every_service_belongs_to_a_profile() -> None:
    # a service without a profile would start with every profile, the single one too
    found = services()
    assert {"proxy", "api-1", "api-2", "worker", "migrate", "postgres", "redis", "minio"} <= set(
        found
    )
    assert all(service.get("profiles") for service in found.values()), found


@pytest.mark.parametrize("name", sorted(gateway_services()))
def test_every_gateway_service_runs_a_command_of_the_image(name: str) -> None:
    command = gateway_services()[name]["command"]
    assert cli_problem(command) is None, (name, command)


def test_the_image_runs_the_cli_so_a_command_is_its_arguments() -> None:
    text = CONTAINERFILE.read_text()
    assert re.search(r'^ENTRYPOINT \["reelgate"\]$', text, re.MULTILINE)
    assert re.search(r'^CMD \["serve"\]$', text, re.MULTILINE)  # the embedded default


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["serve", "--no-worker"], False),
        (["serve", "--no-workers"], True),  # one letter past an option
        (["serv"], True),
        (["worker"], False),
        (["worker", "--no-worker"], True),  # an option of another command
        (["migrate"], False),
        ([], True),
    ],
)
def test_the_command_check_refuses_what_the_cli_refuses(args: list[str], refused: bool) -> None:
    assert (cli_problem(args) is not None) == refused


def test_every_variable_the_compose_file_uses_is_documented() -> None:
    names = used_variables()
    # the ones an operator must set, and the settings the topology is made of
    assert {"POSTGRES_PASSWORD", "UPSTREAM_API_KEY", "REELGATE_DATABASE_URL"} <= names
    assert undocumented(names, docs_text()) == []


def test_the_variable_check_finds_an_undocumented_name_and_a_misspelt_setting() -> None:
    docs = "REELGATE_PORT, REELGATE_DATABASE_URL and SOME_VARIABLE are described here."
    assert undocumented({"REELGATE_PORT", "SOME_VARIABLE"}, docs) == []
    assert undocumented({"SOME_VARIABLES"}, docs) == ["SOME_VARIABLES"]  # one letter more
    assert undocumented({"REELGATE_DATABASE_URLS"}, docs + " REELGATE_DATABASE_URLS") == [
        "REELGATE_DATABASE_URLS (no such setting)"
    ]
    assert variables('a: ${ONE:-x}\nb: "$$NOT_ONE $TWO ${THREE:?set it}"') == {
        "ONE",
        "TWO",
        "THREE",
    }


def test_every_required_variable_is_in_env_example_and_its_settings_are_valid() -> None:
    text = COMPOSE.read_text()
    required = {m for m in re.findall(r"\$\{([A-Za-z_]\w*):\?", text)}
    assert required <= env_names(ENV_EXAMPLE.read_text()), required
    values = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.startswith("REELGATE_")
    )
    # the secrets' rules (8 characters at least) hold for the example's placeholders
    Settings(**{name[9:].lower(): value for name, value in values.items()})


def test_secrets_come_from_the_env_file_never_from_the_compose_file() -> None:
    for name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert "${" in str(value), (name, key)
    assert all(s.get("env_file") == ".env" for s in gateway_services().values())


def depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: dep["condition"] for name, dep in service.get("depends_on", {}).items()}


def test_migrate_runs_once_before_the_replicas_and_the_worker() -> None:
    found = gateway_services()
    migrate = found["migrate"]
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    assert depends(migrate) == {"postgres": "service_healthy"}
    for name, service in found.items():
        if service["command"][0] in ("serve", "worker") and "scale" in service["profiles"]:
            assert depends(service)["migrate"] == "service_completed_successfully", name


def replicas() -> list[str]:
    return sorted(
        name
        for name, service in gateway_services().items()
        if service["command"] == ["serve", "--no-worker"]
    )


def test_two_api_replicas_and_one_worker_sit_behind_the_proxy_which_routes_on_readyz() -> None:
    assert replicas() == ["api-1", "api-2"]
    workers = [n for n, s in gateway_services().items() if s["command"] == ["worker"]]
    assert workers == ["worker"]
    caddy = CADDYFILE.read_text()
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddy)
    assert upstreams is not None
    assert sorted(upstreams.group(1).split()) == [f"{name}:8000" for name in replicas()]
    assert re.search(r"^\s*health_uri /readyz$", caddy, re.MULTILINE)
    assert depends(services()["proxy"]) == {name: "service_healthy" for name in replicas()}


def test_the_image_healthcheck_is_off_exactly_where_there_is_no_http_port() -> None:
    assert "/readyz" in CONTAINERFILE.read_text().split("HEALTHCHECK", 1)[1]
    for name, service in gateway_services().items():
        serves = service["command"][0] == "serve"
        off = service.get("healthcheck", {}).get("disable", False)
        assert off != serves, name


def test_the_single_profile_is_the_embedded_default_alone() -> None:
    single = {n: s for n, s in services().items() if "single" in s["profiles"]}
    assert list(single) == ["reelgate"]
    service = single["reelgate"]
    assert service["command"] == ["serve"]
    assert not {"REELGATE_DATABASE_URL", "REELGATE_REDIS_URL"} & set(service["environment"])
    assert "data:/data" in service["volumes"]
    # the mounted sandbox is called at the public URL, from inside the container too
    port = service["environment"]["REELGATE_PORT"]
    assert service["ports"] == [f"{port}:{port}"]
    assert service["environment"]["REELGATE_PUBLIC_BASE_URL"].endswith(f":{port}")


def test_the_containerfile_base_is_an_argument_and_the_process_is_not_root() -> None:
    text = CONTAINERFILE.read_text()
    assert text.index("ARG BASE=docker.io/library/python:3.12-slim") < text.index("FROM ")
    assert re.findall(r"^FROM (\S+)", text, re.MULTILINE) == ["${BASE}", "${BASE}"]
    assert re.search(r"^USER reelgate$", text, re.MULTILINE)
    assert re.search(r'^VOLUME \["/data"\]$', text, re.MULTILINE)
    assert "REELGATE_DATA_DIR=/data" in text and "REELGATE_HOST=0.0.0.0" in text
    # Docker reads Containerfile.dockerignore, podman .containerignore: one context
    ignored = (ROOT / ".containerignore").read_text()
    assert (ROOT / "Containerfile.dockerignore").read_text() == ignored
