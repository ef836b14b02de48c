"""Who is asked first: the caller or the request's parameters (api/deps.py).

On /admin the admin token is checked before anything else, so a caller without it learns
nothing of what a valid request looks like. On the platform's /v1 the parameters are
validated first and the key only then, so a malformed request is a 422 whoever sends
it and never spends the key's rate limit. Both orders are what the API has always
answered; these tests hold them now that each handler names its caller.
"""

from __future__ import annotations

import re

import pytest

from tests.inprocess.harness import InProcess
from tests.inprocess.operator import Operator
from tests.support import API_KEY

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Path parameters that no route accepts (ids start at 1), so that a route validating
# them before the caller would answer 422.
INVALID_PATH = {"account_id": "0", "key_id": "0", "name": "x"}


def admin_operations(gateway: InProcess) -> list[tuple[str, str]]:
    """Every operation under /admin/v1, read from the app's own OpenAPI document: a route
    added later is checked too."""
    ops = []
    for template, operations in gateway.app.openapi()["paths"].items():
        if template.startswith("/admin/"):
            path = re.sub(r"\{(\w+)\}", lambda m: INVALID_PATH[m.group(1)], template)
            ops.extend((method.upper(), path) for method in sorted(operations))
    return ops


@pytest.mark.parametrize("token", [None, "rg-admin-wrong", API_KEY])
async def test_every_admin_operation_refuses_a_caller_before_validating_anything(
    gateway: InProcess, token: str | None
) -> None:
    ops = admin_operations(gateway)
    paths = {path for _, path in ops}
    # accounts, keys, usage, prices, channels and webhook secrets are all there
    assert len(ops) >= 20, ops
    assert {"/admin/v1/channels/x", "/admin/v1/accounts/0/webhook-secret"} <= paths
    async with gateway.client(token) as http:
        for method, path in ops:
            # a body no route accepts: a route that validated it first would say 422
            resp = await http.request(method, path, json={"unknown": [1]})
            assert resp.status_code == 401, (method, path, resp.text)
            assert resp.json()["error"]["kind"] == "unauthorized", (method, path)


async def test_the_admin_token_passes_the_same_operations_on_to_validation(
    gateway: InProcess,
) -> None:
    """The counterpart: with the token, the same requests reach validation (so the 401s
    above came from the caller check, not from something else)."""
    async with gateway.admin() as http:
        resp = await http.post("/accounts/0/webhook-secret")
        assert resp.status_code == 422 and "account_id" in resp.json()["error"]["message"]
        assert (await http.post("/accounts/1/webhook-secret")).status_code == 201
        assert (await http.patch("/accounts/1", json={"unknown": [1]})).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "valid_path"),
    [
        ("GET", "/v1/tasks?limit=0", "/v1/tasks?limit=1"),
        ("GET", "/v1/tasks?limit=201", "/v1/tasks?limit=200"),
        ("GET", "/v1/tasks?status=done", "/v1/tasks?status=queued"),
        (
            "POST",
            "/v1/tasks/video_x/deliveries/0/redeliver",
            "/v1/tasks/video_x/deliveries/1/redeliver",
        ),
    ],
)
async def test_platform_parameters_are_validated_before_the_key(
    gateway: InProcess, method: str, path: str, valid_path: str
) -> None:
    for token, refusal in ((None, 1004), ("sk-not-a-key", 2049)):
        async with gateway.client(token) as http:
            bad = await http.request(method, path)
            assert bad.status_code == 422, (token, path, bad.text)
            # at the boundary the value is valid: now the caller is what is refused
            good = await http.request(method, valid_path)
            assert good.status_code == 401, (token, valid_path, good.text)
            assert good.json()["error"]["code"] == refusal


async def test_a_malformed_request_does_not_spend_the_keys_rate(gateway: InProcess) -> None:
    async with Operator(gateway) as op:
        _, key = await op.client(rpm_limit=2)
    async with gateway.client(key["key"]) as http:
        for _ in range(3):  # more malformed requests than the key's rpm_limit
            assert (await http.get("/v1/tasks", params={"limit": 0})).status_code == 422
        # the whole limit is left: two requests pass, the one past it is refused
        assert (await http.get("/v1/tasks")).status_code == 200
        assert (await http.get("/v1/tasks")).status_code == 200
        refused = await http.get("/v1/tasks")
        assert refused.status_code == 429, refused.text
