"""What a handler may ask for: the gateway from the request, or, better, one service
(``Depends(task_service)``), so that a handler's signature says what it uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from reelgate.gateway import Gateway
    from reelgate.services.files import FileService
    from reelgate.services.tasks import TaskService


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def task_service(request: Request) -> TaskService:
    return gateway(request).task_service


def file_service(request: Request) -> FileService:
    return gateway(request).file_service
