"""The command-line options the load benchmarks share."""

from __future__ import annotations

import argparse

from config import LITELLM_VERSION

OPS_HELP = (
    "operations, in this order: query (one task, asked again and again, as a client "
    "polls; a cache serves it), query-distinct (a different task at each request: "
    "every task of the store in turn), create"
)


def base_parser(description: str) -> argparse.ArgumentParser:
    """The options every load benchmark has: placement and where LiteLLM comes from."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pin the target under test and the load generator to separate CPUs",
    )
    parser.add_argument("--target-cpus", type=_cpus, default=[0], help="CPUs of the target")
    parser.add_argument("--load-cpus", type=_cpus, default=[1], help="CPUs of wrk and the rest")
    parser.add_argument(
        "--litellm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"also measure LiteLLM's proxy {LITELLM_VERSION} (installed into bench/.venv-litellm)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir and logs")
    parser.add_argument(
        "--output", help="name of the JSON file in bench/results/ (default: the bench's name)"
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.3,
        help="before each run, wait until other users' processes use fewer CPUs than this",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=20.0, help="the longest such wait, in seconds"
    )
    parser.add_argument(
        "--rev",
        help="run reelgate as committed at this git revision (git archive) instead of the "
        "working tree",
    )
    return parser


def _cpus(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]
