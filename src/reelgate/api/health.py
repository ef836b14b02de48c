"""Liveness and readiness."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from reelgate.api.deps import Probes, probes
from reelgate.wire import JSONResponse

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> Response:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="The store answers, its schema is current, and the worker (if any) runs",
    description="503 with the problems otherwise. Redis is reported (`redis`: `ok` or "
    "`unreachable`) but never makes a replica unready: without it, limits fall back to "
    "per-process windows and live events to the streams' re-reads.",
)
async def readyz(running: Annotated[Probes, Depends(probes)]) -> Response:
    problems = await running.readiness()
    body: dict[str, Any] = {"status": "unavailable" if problems else "ready"}
    if problems:
        body["problems"] = problems
    body["worker"] = running.runs_worker
    reachable = await running.redis_reachable()
    if reachable is not None:
        body["redis"] = "ok" if reachable else "unreachable"
    return JSONResponse(body, status_code=503 if problems else 200)
