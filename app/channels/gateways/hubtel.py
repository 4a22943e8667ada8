"""Hubtel-style programmable USSD: a JSON POST ``{Type, Mobile, SessionId, ServiceCode, Message,
Sequence, ClientState, Operator}`` answered ``{"Type": "Response"|"Release", "Message", "ClientState"}``.

Hubtel sends only the input of each step (``Message``), while the menu engine wants the whole
path of the session (``1*8271...*1``), as Africa's Talking sends it.  The path travels in
``ClientState``: every reply carries the path answered so far, Hubtel echoes it with the next
step, and the adapter appends the new input.  Why there rather than in the ``ussd_session`` row:

- a retried step arrives with the same ``ClientState`` and ``Message``, so it is the same path
  and gets the stored screen (the service's retry rule), with nothing run twice.  A path rebuilt
  from the server row would append a retried input a second time: telling a retry from a
  new step would need the ``Sequence`` kept per step, which the row does not have;
- it is no less trustworthy than Africa's Talking's ``text``: both arrive in a request that
  carries the gateway's secret, and either could name any path; the resident never sees it.

``ClientState`` is written ``v1:<path>`` so that a missing one (a gateway that does not echo
it) is told apart from the empty path of the main menu: it is refused (422 naming
``ClientState``) instead of silently restarting the menu.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.channels import service
from app.channels.gateways.base import RESPONSES, renamed_fields, shared_secret
from app.channels.outbound import flush_later
from app.db import SessionDep
from app.errors import InvalidData

NAME = "hubtel"
STATE_PREFIX = "v1:"
MAX_PATH = 400  # the longest path the service keeps (ussd_session.text)
router = APIRouter(dependencies=[Depends(shared_secret(NAME))], responses=RESPONSES)


def _title(value: object) -> object:
    return value.strip().title() if isinstance(value, str) else value  # "initiation" and "Initiation"


class HubtelUssd(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Type: Annotated[Literal["Initiation", "Response", "Release", "Timeout"], BeforeValidator(_title)]
    Mobile: str = Field(max_length=32)
    SessionId: str = Field(min_length=1, max_length=100)
    ServiceCode: str = Field(default="", max_length=32)
    Message: str = Field(default="", max_length=182)   # the longest USSD string
    Sequence: int = Field(default=1, ge=1)
    ClientState: str = Field(default="", max_length=MAX_PATH + len(STATE_PREFIX))
    Operator: str = Field(default="", max_length=32)


class HubtelReply(BaseModel):
    Type: Literal["Response", "Release"]
    Message: str
    ClientState: str = ""


def path_of(req: HubtelUssd) -> str:
    """The whole path of the session after this step (see the module docstring)."""
    if req.Type == "Initiation":
        return ""  # Message is the dialled code (*123#): the main menu
    if not req.ClientState.startswith(STATE_PREFIX):
        raise InvalidData.one("ClientState", "client_state",
                              f"a Response must echo the previous reply's ClientState ({STATE_PREFIX}...)")
    before = req.ClientState[len(STATE_PREFIX):]
    path = f"{before}*{req.Message}" if before else req.Message
    if len(path) > MAX_PATH:
        raise InvalidData.one("Message", "string_too_long",
                              f"the session's inputs exceed {MAX_PATH} characters")
    return path


@router.post("/channels/ussd/hubtel", response_model=HubtelReply,
             summary="USSD callback, Hubtel programmable-services convention (JSON)")
def ussd(request: Request, session: SessionDep, background: BackgroundTasks, body: HubtelUssd) -> HubtelReply:
    if body.Type in ("Release", "Timeout"):  # the resident hung up or the network gave up
        return HubtelReply(Type="Release", Message="")  # the session row stays, for resuming
    path = path_of(body)
    with renamed_fields({"phoneNumber": "Mobile", "sessionId": "SessionId"}):
        screen = service.handle_ussd(session, request.app.state.settings, service.UssdRequest(
            gateway=NAME, session_id=body.SessionId, phone=body.Mobile, text=path))
    flush_later(request, background, session)
    if screen.end:
        return HubtelReply(Type="Release", Message=screen.text)
    return HubtelReply(Type="Response", Message=screen.text, ClientState=STATE_PREFIX + path)
