"""Control endpoints for tests and operators: the fault plan, the request log, the tasks.

``GET|PUT /_control/faults``, ``GET /_control/requests?since=<t>`` and
``GET /_control/tasks?since=<t>``, below the sandbox's base URL. They see every account's
calls and tasks and can change the fault plan, so who may call them is the app's choice
(``ControlAuth``): mounted in a gateway, the gateway's admin token; standalone (a dev tool
started on purpose), any of the sandbox's API keys. They are not MiniMax endpoints: they
are not rate limited, never faulted and not written to the request log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from reelgate.errors import InvalidParams
from reelgate.sandbox.faults import FaultPlan, parse_rates
from reelgate.sandbox.service import Sandbox
from reelgate.wire import JSONResponse, bearer_token, json_body, ok

PLAN_FIELDS = frozenset({"faults", "seed", "slow_s", "hang_s"})

# Checks a control call's bearer token (None: no header); raises a ReelgateError to refuse.
ControlAuth = Callable[[str | None], Awaitable[None]]


def key_holders(sandbox: Sandbox) -> ControlAuth:
    """Any of the sandbox's own API keys: the standalone sandbox's rule."""

    async def check(token: str | None) -> None:
        sandbox.account_for(token)

    return check


def add_control_routes(app: FastAPI, sandbox: Sandbox, authorize: ControlAuth) -> None:
    @app.get("/_control/faults", tags=["sandbox control"])
    async def get_faults(request: Request) -> Response:
        """The fault plan in force."""
        await authorize(bearer_token(request))
        return ok(sandbox.faults.plan.as_json())

    @app.put("/_control/faults", tags=["sandbox control"])
    async def put_faults(request: Request) -> Response:
        """Change the fault plan: ``{"faults": "kind=rate,..." | {kind: rate}, "seed": int,
        "slow_s": float, "hang_s": float}``, each optional (an absent field keeps its value;
        ``"faults": ""`` turns every fault off). Call counts start again from zero, so the
        same seed and the same requests give the same faults again.
        """
        await authorize(bearer_token(request))
        plan = updated_plan(sandbox.faults.plan, await json_body(request))
        sandbox.faults.configure(plan)
        return ok(plan.as_json())

    @app.get("/_control/requests", tags=["sandbox control"])
    async def requests(request: Request, since: float = 0.0) -> Response:
        """Calls that arrived after ``since`` (Unix seconds), oldest first, as a JSON list."""
        await authorize(bearer_token(request))
        return JSONResponse([e.as_json() for e in sandbox.requests.since(since)])

    _tasks_route(app, sandbox, authorize)


def _tasks_route(app: FastAPI, sandbox: Sandbox, authorize: ControlAuth) -> None:
    @app.get("/_control/tasks", tags=["sandbox control"])
    async def tasks(request: Request, since: float = 0.0) -> Response:
        """Tasks created after ``since`` with the moment each turned Success, so that a
        benchmark can measure how late a gateway records completions."""
        await authorize(bearer_token(request))
        return JSONResponse(
            [
                {
                    "task_id": t.task_id,
                    "created_at": t.created_at,
                    "success_at": sandbox.success_at(t),
                }
                for t in sandbox.state.all()
                if t.created_at > since
            ]
        )


def updated_plan(plan: FaultPlan, body: Any) -> FaultPlan:
    """``plan`` with the fields of a control request body; raises InvalidParams."""
    if not isinstance(body, dict):
        raise InvalidParams("invalid params, send a JSON object")
    unknown = set(body) - PLAN_FIELDS
    if unknown:
        raise InvalidParams(
            f"invalid params, unknown fields {sorted(unknown)}; known: {sorted(PLAN_FIELDS)}"
        )
    rates = plan.rates
    if "faults" in body:
        spec = body["faults"]
        if not isinstance(spec, str | dict):
            raise InvalidParams("invalid params, faults must be a string or an object")
        rates = parse_rates(spec)
    seed = body.get("seed", plan.seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidParams("invalid params, seed must be an integer")
    return FaultPlan(
        rates=rates,
        seed=seed,
        slow_s=_seconds(body, "slow_s", plan.slow_s),
        hang_s=_seconds(body, "hang_s", plan.hang_s),
    )


def _seconds(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidParams(f"invalid params, {name} must be a non-negative number of seconds")
    return float(value)
