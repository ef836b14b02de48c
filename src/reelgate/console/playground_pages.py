"""The playground: a form built from the model catalog, re-drawn (htmx) as a choice
changes so that only valid combinations can be picked, with the price before submitting.
Submitting creates the task through ``playground.submit`` and opens its page, which
follows it live until the video plays."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.console.auth import User, user, user_change
from reelgate.console.catalog import IMAGE_LABELS, Selection, model_options, price_of, price_table
from reelgate.console.playground import read_draft, selection_from, submit
from reelgate.console.web import ConsoleRoute, redirect, render
from reelgate.errors import ReelgateError

router = APIRouter(prefix="/console/playground", route_class=ConsoleRoute, include_in_schema=False)


def _context(request: Request, selection: Selection) -> dict[str, object]:
    table = price_table(gateway(request).settings.prices_file)
    return {
        "sel": selection,
        "models": model_options(),
        "price": price_of(table, selection),
        "currency": table.currency,
        "image_labels": IMAGE_LABELS,
    }


@router.get("")
async def playground(request: Request, who: Annotated[User, Depends(user)]) -> Response:
    selection = selection_from(request.query_params)
    ctx = {**_context(request, selection), "prompt": "", "error": None}
    return render(request, "playground.html", ctx, session=who.session)


@router.get("/choices")
async def choices(request: Request, who: Annotated[User, Depends(user)]) -> Response:
    """The selects and the price for what is chosen now (htmx swaps them in)."""
    selection = selection_from(request.query_params)
    return render(request, "_choices.html", _context(request, selection), session=who.session)


@router.post("")
async def create(request: Request, who: Annotated[User, Depends(user_change)]) -> Response:
    form = await request.form()
    selection = selection_from({k: v for k, v in form.items() if isinstance(v, str)})
    prompt = form.get("prompt")
    try:
        draft = await read_draft(form)
        task = await submit(gateway(request), who.key, draft)
    except ReelgateError as exc:
        ctx = {
            **_context(request, selection),
            "prompt": prompt if isinstance(prompt, str) else "",
            "error": exc.message,
        }
        return render(request, "playground.html", ctx, session=who.session, status=exc.http_status)
    who.session.flash.append(f"Task {task.platform_id} was created; it is followed live below.")
    return redirect(request, f"/console/tasks/{task.platform_id}")
