"""Small things a MiniMax client meets (issue 13, item 13), on a live gateway: ids that
every JSON reader keeps exact, and a clear answer to a query with no id."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import API_KEY, MiniMax, Server

JS_SAFE = 2**53  # JavaScript's Number and jq keep integers exact below this


def test_ids_stay_exact_in_javascript_and_jq(minimax: MiniMax) -> None:
    created = minimax.create({"model": "T2V-01", "prompt": "a kite over a beach"})
    done = minimax.wait(created["task_id"])
    assert done["status"] == "Success", done
    resp = minimax.http.get("/v1/files/retrieve", params={"file_id": done["file_id"]})
    raw = resp.text
    file_id = json.loads(raw)["file"]["file_id"]
    assert isinstance(file_id, int)  # MiniMax's type: a JSON number
    # read as a double (as JavaScript and jq do), it is still the same number
    assert json.loads(raw, parse_int=float)["file"]["file_id"] == file_id
    for value in (created["task_id"], done["task_id"], done["file_id"], file_id):
        assert str(value).isdigit() and 0 < int(value) < JS_SAFE, value


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_query_without_task_id_says_it_is_required(minimax: MiniMax, value: str | None) -> None:
    params = {} if value is None else {"task_id": value}
    resp = minimax.http.get("/v1/query/video_generation", params=params)
    assert resp.status_code == 200  # MiniMax's surface: the error is in base_resp
    assert resp.json()["base_resp"] == {
        "status_code": 2013,
        "status_msg": "invalid params, task_id is required",
    }


@pytest.mark.parametrize("path", ["/v1/files/retrieve", "/v1/files/retrieve_content"])
def test_a_file_call_without_file_id_says_it_is_required(minimax: MiniMax, path: str) -> None:
    resp = minimax.http.get(path)
    assert resp.status_code == 200
    assert resp.json()["base_resp"] == {
        "status_code": 2013,
        "status_msg": "invalid params, file_id is required",
    }


def test_an_unknown_id_is_still_not_found(minimax: MiniMax, server: Server) -> None:
    """Only the empty id changed: an id that names no task of the caller's is not found."""
    query = minimax.http.get("/v1/query/video_generation", params={"task_id": "123456789"})
    assert query.json()["base_resp"]["status_msg"] == "invalid params, task not found"
    resp = httpx.get(
        server.url + "/v1/tasks/123456789",
        headers={"Authorization": f"Bearer {API_KEY}"},
        trust_env=False,
    )
    assert resp.status_code == 404, resp.text
