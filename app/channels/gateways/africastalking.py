"""Africa's Talking USSD convention: a form POST with ``sessionId, serviceCode, phoneNumber,
networkCode, text`` (the inputs of the session joined by ``*``), answered in plain text
beginning ``CON`` (wait for input) or ``END`` (session over)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import PlainTextResponse

from app.channels import service
from app.channels.gateways.base import RESPONSES, shared_secret
from app.channels.outbound import flush_later
from app.db import SessionDep

NAME = "africastalking"
router = APIRouter(dependencies=[Depends(shared_secret(NAME))], responses=RESPONSES)


@router.post("/channels/ussd/africastalking", response_class=PlainTextResponse,
             summary="USSD callback, Africa's Talking convention (CON/END plain text)")
def ussd(request: Request, session: SessionDep, background: BackgroundTasks,
         sessionId: Annotated[str, Form(max_length=100)],
         phoneNumber: Annotated[str, Form(max_length=32)],
         serviceCode: Annotated[str, Form(max_length=32)] = "",
         networkCode: Annotated[str, Form(max_length=16)] = "",
         text: Annotated[str, Form(max_length=400)] = "") -> PlainTextResponse:
    screen = service.handle_ussd(session, request.app.state.settings, service.UssdRequest(
        gateway=NAME, session_id=sessionId, phone=phoneNumber, text=text))
    flush_later(request, background, session)
    return PlainTextResponse(("END " if screen.end else "CON ") + screen.text)
