"""Eligibility, the pure core: facts, desil provenance, the PMT estimate, programme rules,
decisions with reasons, and the comparison of two runs (docs/eligibility.md).

Nothing in this package touches the database: plain dataclasses in, plain dataclasses out.
"""
