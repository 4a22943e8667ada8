"""Search: exact by NIK or KK (current or historical), fuzzy by name.

Fuzzy name search uses rapidfuzz in the application rather than a database trigram index:
it behaves identically on SQLite and PostgreSQL, needs no extension (pg_trgm is not always
installable on managed databases), and WRatio tolerates the spelling variants, word
order and partial names residents give.  The scan is limited to the caller's area and runs
over distinct names; bench/bench_registry.py measures it on ~200,000 members.
"""

from __future__ import annotations

import heapq
import uuid

from rapidfuzz import fuzz, process, utils
from sqlmodel import Session

from app.auth.permissions import Principal
from app.registry import repository
from app.registry.models import Household
from app.registry.names import normalise_name

NAME_SCORE_CUTOFF = 75.0


def by_nik(session: Session, nik: str, principal: Principal) -> list[Household]:
    return repository.list_households(
        session, filters=repository.HouseholdFilter(member_nik=nik),
        scope=principal.kelurahan_scope, after=None, limit=10)


def by_kk(session: Session, kk: str, principal: Principal) -> list[Household]:
    return repository.households_by_kk(session, kk, principal.kelurahan_scope)


def by_name(session: Session, name: str, principal: Principal, *, limit: int
            ) -> list[tuple[Household, float, str]]:
    """Best (household, score, matched member name), one hit per household, best first.

    Names repeat (many Siti, many Muhammad): the fuzzy match runs over the DISTINCT names in
    the caller's area, and only the households carrying the best names are then fetched.
    """
    query = utils.default_process(normalise_name(name))
    if not query:
        return []
    scope = principal.kelurahan_scope
    names = repository.distinct_member_names(session, scope)
    scored = {match: score for match, score, _ in process.extract(
        query, names, scorer=fuzz.WRatio, processor=utils.default_process,
        limit=limit * 4, score_cutoff=NAME_SCORE_CUTOFF)}
    best: dict[uuid.UUID, tuple[float, str]] = {}
    for household_id, member_name in repository.households_with_member_names(
            session, list(scored), scope):
        score = scored[member_name]
        if score > best.get(household_id, (-1.0, ""))[0]:
            best[household_id] = (score, member_name)
    top = heapq.nlargest(limit, best.items(), key=lambda kv: (kv[1][0], kv[1][1]))
    rows = {h.id: h for h in repository.households_by_ids(session, [hid for hid, _ in top], scope)}
    return [(rows[hid], score, matched) for hid, (score, matched) in top if hid in rows]
