"""The desil each canonical household is counted under, as ONE SQL subquery.

The same choice scoring makes (``app.eligibility.repository.latest_desil``): the latest
official period, else the latest PMT estimate (labelled ``estimate``), else none ("belum ada
desil"). Reports aggregate over this subquery so that a report and a decision never disagree
on a family's desil; a test checks the two agree family by family on both engines.

Columns: ``household_id``, ``kelurahan_code``, ``desil`` (NULL: none), ``desil_source``
(``official`` | ``estimate`` | NULL) and ``desil_basis`` (the BPS period, or the model
version of the estimate).
"""

from __future__ import annotations

from sqlalchemy import Subquery, and_, case, func, literal, select
from sqlmodel import col

from app.eligibility.store import DesilEstimate, FamilyDesil
from app.registry.models import Household

OFFICIAL = "official"
ESTIMATE = "estimate"


def desil_in_use() -> Subquery:
    official = select(
        col(FamilyDesil.household_id).label("household_id"),
        col(FamilyDesil.desil).label("desil"),
        col(FamilyDesil.period).label("period"),
        func.row_number()
        .over(partition_by=col(FamilyDesil.household_id), order_by=col(FamilyDesil.period).desc())
        .label("rn"),
    ).subquery("official")
    estimate = select(
        col(DesilEstimate.household_id).label("household_id"),
        col(DesilEstimate.desil).label("desil"),
        col(DesilEstimate.model_version).label("model_version"),
        func.row_number()
        .over(
            partition_by=col(DesilEstimate.household_id),
            order_by=(col(DesilEstimate.computed_at).desc(), col(DesilEstimate.id).desc()),
        )
        .label("rn"),
    ).subquery("estimate")
    has_official = official.c.household_id.is_not(None)
    has_estimate = estimate.c.desil.is_not(None)
    return (
        select(
            col(Household.id).label("household_id"),
            col(Household.kelurahan_code).label("kelurahan_code"),
            case((has_official, official.c.desil), else_=estimate.c.desil).label("desil"),
            case((has_official, literal(OFFICIAL)), (has_estimate, literal(ESTIMATE)), else_=None).label(
                "desil_source"
            ),
            case(
                (has_official, official.c.period), (has_estimate, estimate.c.model_version), else_=None
            ).label("desil_basis"),
        )
        .select_from(Household)
        .outerjoin(official, and_(official.c.household_id == col(Household.id), official.c.rn == 1))
        .outerjoin(estimate, and_(estimate.c.household_id == col(Household.id), estimate.c.rn == 1))
        .where(col(Household.deleted_at).is_(None))
        .subquery("desil_in_use")
    )
