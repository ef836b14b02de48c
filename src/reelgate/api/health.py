"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.wire import JSONResponse

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> Response:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="The store answers and its schema is current")
async def readyz(request: Request) -> Response:
    problems = await gateway(request).readiness()
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
