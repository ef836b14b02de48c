"""``reelgate generate``: one video through a gateway's MiniMax API, saved as an MP4.

A client like any other (reelgate/client.py): it speaks MiniMax v1 over HTTP, and v2
(``/v2/video_generation``) for the models the catalog serves on v2 (MiniMax-H3 and
H3-Max), so it works against any gateway, or MiniMax itself, that it can reach.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

if TYPE_CHECKING:
    from reelgate.client import MiniMaxClient

# soft_wrap: a line is never broken by Rich (the terminal wraps it), so that a script
# reading stderr through a pipe (80 columns by default) finds a path or a size in one piece
console = Console(stderr=True, soft_wrap=True)
V2_NAMES = "MiniMax-H3 and MiniMax-H3-Max"


# The command's arguments and options, named here so that its signature reads as a list.
Prompt = Annotated[
    str,
    typer.Argument(
        help="What the video shows; camera moves in brackets, e.g. '\\[Push in] a garden'."
    ),
]
ModelOpt = Annotated[
    str, typer.Option(help="The video model; MiniMax-H3 and MiniMax-H3-Max use MiniMax's v2 API.")
]
DurationOpt = Annotated[
    int | None,
    typer.Option(
        help="Seconds: 6 or 10 by model; v2 models 4 to 15 (H3-Max from 5), 6 if not given."
    ),
]
ResolutionOpt = Annotated[
    str | None, typer.Option(help="512P, 720P, 768P or 1080P; v2: 480P, 768P or 2K by model.")
]
RatioOpt = Annotated[
    str | None,
    typer.Option(
        help="v2 only: 21:9, 16:9, 4:3, 1:1, 3:4, 9:16 or adaptive. Text to video needs "
        "one other than adaptive (16:9 if not given); with frames it is always adaptive."
    ),
]
FirstFrameOpt = Annotated[str | None, typer.Option(help="First frame: a file, URL or data URL.")]
LastFrameOpt = Annotated[
    str | None, typer.Option(help="Last frame (MiniMax-Hailuo-02 and the v2 models).")
]
SubjectOpt = Annotated[str | None, typer.Option(help="Subject image (S2V-01).")]
RefImagesOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="<file|url>",
        help="v2, MiniMax-H3: a reference image (file, URL or data URL); repeat for up to 9.",
    ),
]
RefVideosOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="<file|url>",
        help="v2, MiniMax-H3: a reference video, MP4 or MOV of 2 to 15 s; repeat for up to 3.",
    ),
]
RefAudioOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="<file|url>",
        help="v2, MiniMax-H3: reference audio, WAV or MP3 of 2 to 15 s, next to a reference "
        "image or video; repeat for up to 3.",
    ),
]
OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Where to save the MP4.")]
BaseUrlOpt = Annotated[
    str, typer.Option(envvar="REELGATE_URL", help="The gateway's MiniMax base URL.")
]
ApiKeyOpt = Annotated[
    str | None, typer.Option(envvar="REELGATE_API_KEY", help="Your API key (sk-...).")
]
IntervalOpt = Annotated[float, typer.Option(help="Seconds between status checks.")]


def generate(
    prompt: Prompt = "",
    model: ModelOpt = "MiniMax-Hailuo-2.3",
    duration: DurationOpt = None,
    resolution: ResolutionOpt = None,
    ratio: RatioOpt = None,
    first_frame: FirstFrameOpt = None,
    last_frame: LastFrameOpt = None,
    subject: SubjectOpt = None,
    reference_image: RefImagesOpt = None,
    reference_video: RefVideosOpt = None,
    reference_audio: RefAudioOpt = None,
    output: OutputOpt = Path("out.mp4"),
    base_url: BaseUrlOpt = "http://127.0.0.1:8000/minimaxi",
    api_key: ApiKeyOpt = None,
    interval: IntervalOpt = 1.0,
) -> None:
    """Generate a video through the gateway's MiniMax API and save it."""
    from reelgate.client import ClientError, MiniMaxClient

    if not api_key:
        console.print("[red]No API key:[/] pass --api-key or set REELGATE_API_KEY.")
        raise typer.Exit(2)
    refs = References(reference_image or [], reference_video or [], reference_audio or [])
    v2 = is_v2(model)
    if v2:
        if subject:
            _usage_error("--subject is for S2V-01; v2 models take --reference-image")
        body = v2_body(model, prompt, duration, resolution, ratio, (first_frame, last_frame), refs)
    else:
        if ratio or refs.any:
            _usage_error(f"--ratio and --reference-* are for {V2_NAMES}")
        body = _request_body(model, prompt, duration, resolution, first_frame, last_frame, subject)
    client = MiniMaxClient(base_url, api_key)
    try:
        saved = (_generate_v2 if v2 else _generate_v1)(client, body, interval, output)
    except ClientError as exc:
        console.print(f"[red]Failed:[/] {exc}")
        raise typer.Exit(1) from None
    except Exception as exc:
        console.print(f"[red]Failed:[/] {exc.__class__.__name__}: {exc}")
        raise typer.Exit(1) from None
    finally:
        client.close()
    console.print(f"saved {escape(str(output))} ({saved}, {model})")


def _usage_error(message: str) -> NoReturn:
    """End the command with exit 2: an option this model does not take."""
    console.print(f"[red]Not for this model:[/] {message}.")
    raise typer.Exit(2)


def _generate_v1(client: MiniMaxClient, body: dict[str, Any], interval: float, output: Path) -> str:
    """v1: create, wait, retrieve the file, download it; answers the video's size."""
    done = _create_and_wait(client, body, interval)
    _download(client, client.retrieve(done["file_id"])["download_url"], output)
    return f"{done.get('video_width')}x{done.get('video_height')}"


def _generate_v2(client: MiniMaxClient, body: dict[str, Any], interval: float, output: Path) -> str:
    """v2: create, wait, download ``content.url`` (no file step); answers its resolution
    and ratio."""
    created = client.create_v2(body)
    console.print(f"task {created['task_id']}  platform id {created.get('platform_id', '-')}")
    with console.status("queued") as status:
        task = client.wait_v2(
            created["task_id"], interval=interval, on_status=lambda s: status.update(s)
        )
    _download(client, task["content"]["url"], output)
    return f"{task.get('resolution')} {task.get('ratio')}, {task.get('duration')} s"


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


# -- v2 (MiniMax-H3, H3-Max) ----------------------------------------------------------------


@dataclass(frozen=True)
class References:
    """The reference media given on the command line, each a file, URL or data URI."""

    images: list[str]
    videos: list[str]
    audio: list[str]

    @property
    def any(self) -> bool:
        return bool(self.images or self.videos or self.audio)


def is_v2(model: str) -> bool:
    """Whether the catalog serves ``model`` on MiniMax's v2 API; a model it does not know
    goes to v1, whose answer names the models there are."""
    from reelgate.domain.catalog import MODELS, Api

    spec = MODELS.get(model)
    return spec is not None and spec.api is Api.MINIMAX_V2


def v2_body(
    model: str,
    prompt: str,
    duration: int | None,
    resolution: str | None,
    ratio: str | None,
    frames: tuple[str | None, str | None],
    refs: References,
) -> dict[str, Any]:
    """The v2 create body: the prompt, then each medium in its role, local files as data
    URIs. The gateway checks the rest (counts, sizes, lengths, what the model takes)."""
    from reelgate.domain.catalog import MODELS

    first, last = frames
    items = [("image", "first_frame", first), ("image", "last_frame", last)]
    items += [("image", "reference_image", v) for v in refs.images]
    items += [("video", "reference_video", v) for v in refs.videos]
    items += [("audio", "reference_audio", v) for v in refs.audio]
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}] if prompt else []
    content += [_item(kind, role, value) for kind, role, value in items if value]
    rules = next(iter(MODELS[model].modes.values()))
    body: dict[str, Any] = {"model": model, "content": content}
    body["duration"] = rules.default_duration if duration is None else duration
    if resolution is not None:
        body["resolution"] = resolution
    if ratio is None and len(content) == 1:
        ratio = "16:9"  # text to video needs a ratio other than adaptive
    if ratio is not None:
        body["ratio"] = ratio
    return body


def _item(kind: str, role: str, value: str) -> dict[str, Any]:
    from reelgate.client import media_value

    try:
        url = media_value(value, kind)
    except OSError as exc:
        console.print(f"[red]Cannot read a file:[/] {exc}")
        raise typer.Exit(2) from None
    return {"type": f"{kind}_url", f"{kind}_url": {"url": url}, "role": role}


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


def _download(client: MiniMaxClient, url: str, output: Path) -> None:
    """Save the video with a progress bar; written beside, then renamed into place, so
    that ``output`` is never half a file."""
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
            for chunk, total in client.download(url):
                out.write(chunk)
                progress.update(bar, advance=len(chunk), total=total or None)
        os.replace(tmp, output)
