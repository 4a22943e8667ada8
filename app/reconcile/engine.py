"""What the incremental path keeps between households: the model, thresholds, name counts.

One :class:`EngineState` per worker process:

- the model: the one the last batch run estimated (``reconcile_state`` row ``model``,
  ``FellegiSunter.to_dict()``); before any batch run, the bundled default
  ``seed_data/reconcile_model.json`` (estimated by the batch linker on 3,000 synthetic Ternate
  households, seed 2026: EM needs a few hundred records with duplicates, which a young
  registry does not have). :meth:`EngineState.reload_model` picks up a newer batch model.
- the name statistics of ``features.Context`` (token frequencies, full-name counts): built
  once, when the process starts, from one streaming pass over the canonical members' names
  (about 40 s for 217,000 members on a busy 2-core machine, mostly the read), then updated
  as households are checked (a member is counted once per process). Deletions and merges
  are not subtracted: the counts drift by the share of records merged away until the
  process restarts, which moves token weights by a fraction of a bit.
- the family sets of ``Context.members`` (KK -> members) are NOT kept: a comparison only
  looks at the KKs of the two households compared, and the check loads both households in
  full, so they are built per check from what it loaded (exact, and no memory).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from app.reconcile import source
from app.reconcile.dbblock import Pool
from app.reconcile.features import Context, Prepared
from app.reconcile.linker import LinkConfig
from app.reconcile.model import FellegiSunter
from app.reconcile.names import TokenWeights, fold, is_initial, normalise
from app.reconcile.store import ReconcileState

log = logging.getLogger("sigap.reconcile")
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "seed_data" / "reconcile_model.json"
MODEL = "model"


def stored_model(session: Session) -> tuple[FellegiSunter, int | None]:
    """The batch run's model and its version (``number``), or the bundled default and None."""
    row = session.get(ReconcileState, MODEL)
    if row is not None and row.value:
        return FellegiSunter.from_dict(row.value), row.number
    return FellegiSunter.from_dict(json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))), None


def _folded_key(name: str) -> tuple[set[str], str]:
    tokens = normalise(name)
    folded = [fold(t) for t in tokens]
    return {t for t in folded if not is_initial(t)}, " ".join(sorted(folded))


@dataclass
class EngineState:
    config: LinkConfig
    model: FellegiSunter
    model_version: int | None = None
    weights: TokenWeights = field(default_factory=TokenWeights)
    name_counts: Counter[str] = field(default_factory=Counter)
    counted: set[uuid.UUID] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, *, config: LinkConfig | None = None) -> EngineState:
        model, version = stored_model(session)
        state = cls(config or LinkConfig.load(registry=True), model, version)
        for m in source.iter_members(session):
            state._count(m.member_id, m.record.full_name)
        log.info("reconcile engine state: %d members counted, model %s", len(state.counted),
                 version if version is not None else "default")
        return state

    def reload_model(self, session: Session) -> None:
        model, version = stored_model(session)
        if version != self.model_version:
            self.model, self.model_version = model, version

    def _count(self, member_id: uuid.UUID, name: str | None) -> None:
        if member_id in self.counted:
            return
        self.counted.add(member_id)
        if name:
            informative, key = _folded_key(name)
            self.weights.counts.update(informative)
            self.weights.total += 1
            if key:
                self.name_counts[key] += 1

    def note(self, pool: Pool) -> None:
        for mid, member in pool.members.items():
            self._count(mid, member.record.full_name)

    def context(self, prepared: Iterable[Prepared]) -> Context:
        families: dict[str, set[tuple[str, int]]] = {}
        for p in prepared:
            if p.kk and p.member_key:
                families.setdefault(p.kk, set()).add(p.member_key)
        return Context(weights=self.weights, name_counts=self.name_counts,
                       members={k: frozenset(v) for k, v in families.items()})
