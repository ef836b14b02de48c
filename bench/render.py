"""Benchmark the sandbox renderer: wall and CPU time per resolution and duration.

Run: `.venv/bin/python bench/render.py [--repeat N]`.  Prints a Markdown table and
writes the same numbers to bench/results/render.json.  CPU time is user + system time of
this process and its children (getrusage), so encoder threads would be counted too.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw

from reelgate.sandbox.render import RenderRequest, output_size, render_video
from reelgate.sandbox.render.encode import X264_OPTIONS

RESOLUTIONS = ("512P", "720P", "768P", "1080P")
DURATIONS = (6, 10)
CPU_BUDGET_768P_6S = 2.0  # seconds, the renderer's target
RESULTS = Path(__file__).resolve().parent / "results" / "render.json"

# Default prompt (no bracket: the gentle push in) and a photo with a busy camera, which
# resizes every frame and blends sprites: the two ends of the cost range.
CASES = (
    ("t2v", "A lighthouse on a cliff at sunset, waves below"),
    ("i2v", "[Zoom in, Pan left] then [Tracking shot]"),
)


def _photo(width: int, height: int) -> bytes:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [xx * 255 // width, yy * 255 // height, ((xx // 48 + yy // 48) % 2) * 120 + 60], axis=-1
    ).astype(np.uint8)
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y, r = (int(rng.integers(lo, hi)) for lo, hi in ((0, width), (0, height), (10, 80)))
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3))
        )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(req: RenderRequest, repeat: int) -> dict[str, float]:
    """Best-of-`repeat` wall and CPU seconds for one request, and the file size."""
    best_wall = best_cpu = float("inf")
    size = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        for _ in range(repeat):
            cpu0, wall0 = _cpu_seconds(), time.perf_counter()
            render_video(req, out)
            best_wall = min(best_wall, time.perf_counter() - wall0)
            best_cpu = min(best_cpu, _cpu_seconds() - cpu0)
            size = out.stat().st_size
    return {"wall_s": round(best_wall, 3), "cpu_s": round(best_cpu, 3), "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="renders per cell (best kept)")
    args = parser.parse_args()
    photo = _photo(1600, 900)
    rows: list[dict[str, Any]] = []
    for mode, prompt in CASES:
        for resolution in RESOLUTIONS:
            width, height = output_size(resolution)
            for duration in DURATIONS:
                req = RenderRequest(
                    mode,
                    prompt,
                    width,
                    height,
                    duration,
                    first_frame=photo if mode == "i2v" else None,
                )
                result = measure(req, args.repeat)
                rows.append(
                    {"mode": mode, "resolution": resolution, "size": f"{width}x{height}",
                     "duration_s": duration, **result}
                )  # fmt: skip
    print("| mode | resolution | size | duration | wall s | CPU s | MB |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['mode']} | {row['resolution']} | {row['size']} | {row['duration_s']} s "
            f"| {row['wall_s']:.2f} | {row['cpu_s']:.2f} | {row['bytes'] / 1e6:.2f} |"
        )
    target = [r for r in rows if r["resolution"] == "768P" and r["duration_s"] == 6]
    worst = max(r["cpu_s"] for r in target)
    verdict = "within" if worst < CPU_BUDGET_768P_6S else "OVER"
    print(f"\n768P 6 s: worst {worst:.2f} s CPU, {verdict} the {CPU_BUDGET_768P_6S} s budget")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(),
                    "pyav": av.__version__,
                },
                "x264": X264_OPTIONS,
                "repeat": args.repeat,
                "budget_768p_6s_cpu_s": CPU_BUDGET_768P_6S,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
