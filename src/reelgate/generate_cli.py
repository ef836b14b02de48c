"""``reelgate generate``: one video through a gateway's MiniMax API, saved as an MP4.

A client like any other (reelgate/client.py): it speaks MiniMax v1 over HTTP, so it
works against any gateway, or MiniMax itself, that it can reach.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

if TYPE_CHECKING:
    from reelgate.client import MiniMaxClient

console = Console(stderr=True)


def generate(
    prompt: Annotated[
        str,
        typer.Argument(
            help="What the video shows; camera moves in brackets, e.g. '\\[Push in] a garden'."
        ),
    ] = "",
    model: Annotated[str, typer.Option(help="The video model.")] = "MiniMax-Hailuo-2.3",
    duration: Annotated[int | None, typer.Option(help="Seconds (6 or 10 by model).")] = None,
    resolution: Annotated[str | None, typer.Option(help="512P, 720P, 768P or 1080P.")] = None,
    first_frame: Annotated[
        str | None, typer.Option(help="First frame: a file, URL or data URL.")
    ] = None,
    last_frame: Annotated[str | None, typer.Option(help="Last frame (MiniMax-Hailuo-02).")] = None,
    subject: Annotated[str | None, typer.Option(help="Subject image (S2V-01).")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to save the MP4.")] = Path(
        "out.mp4"
    ),
    base_url: Annotated[
        str, typer.Option(envvar="REELGATE_URL", help="The gateway's MiniMax base URL.")
    ] = "http://127.0.0.1:8000/minimaxi",
    api_key: Annotated[
        str | None, typer.Option(envvar="REELGATE_API_KEY", help="Your API key (sk-...).")
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between status checks.")] = 1.0,
) -> None:
    """Generate a video through the gateway's MiniMax API and save it."""
    from reelgate.client import ClientError, MiniMaxClient

    if not api_key:
        console.print("[red]No API key:[/] pass --api-key or set REELGATE_API_KEY.")
        raise typer.Exit(2)
    body = _request_body(model, prompt, duration, resolution, first_frame, last_frame, subject)
    client = MiniMaxClient(base_url, api_key)
    try:
        done = _create_and_wait(client, body, interval)
        _download(client, done["file_id"], output)
    except ClientError as exc:
        console.print(f"[red]Failed:[/] {exc}")
        raise typer.Exit(1) from None
    except Exception as exc:
        console.print(f"[red]Failed:[/] {exc.__class__.__name__}: {exc}")
        raise typer.Exit(1) from None
    finally:
        client.close()
    console.print(f"saved {output} ({done.get('video_width')}x{done.get('video_height')}, {model})")


def _request_body(
    model: str,
    prompt: str,
    duration: int | None,
    resolution: str | None,
    first_frame: str | None,
    last_frame: str | None,
    subject: str | None,
) -> dict[str, Any]:
    """The create request: only the fields given; an image that cannot be read ends the
    command with exit 2 before anything is sent."""
    from reelgate.client import image_value

    body: dict[str, Any] = {"model": model}
    if prompt:
        body["prompt"] = prompt
    if duration is not None:
        body["duration"] = duration
    if resolution is not None:
        body["resolution"] = resolution
    try:
        if first_frame:
            body["first_frame_image"] = image_value(first_frame)
        if last_frame:
            body["last_frame_image"] = image_value(last_frame)
        if subject:
            body["subject_reference"] = [{"type": "character", "image": [image_value(subject)]}]
    except OSError as exc:
        console.print(f"[red]Cannot read an image:[/] {exc}")
        raise typer.Exit(2) from None
    return body


def _create_and_wait(
    client: MiniMaxClient, body: dict[str, Any], interval: float
) -> dict[str, Any]:
    """Create the task and poll it, its status shown, until it has succeeded."""
    created = client.create(body)
    console.print(f"task {created['task_id']}  platform id {created.get('platform_id', '-')}")
    with console.status("Preparing") as status:
        return client.wait(
            created["task_id"], interval=interval, on_status=lambda s: status.update(s)
        )


def _download(client: MiniMaxClient, file_id: str, output: Path) -> None:
    """Save the video with a progress bar; written beside, then renamed into place, so
    that ``output`` is never half a file."""
    file = client.retrieve(file_id)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("Downloading", total=None)
        tmp = output.with_name(output.name + ".part")
        with tmp.open("wb") as out:
            for chunk, total in client.download(file["download_url"]):
                out.write(chunk)
                progress.update(bar, advance=len(chunk), total=total or None)
        os.replace(tmp, output)
