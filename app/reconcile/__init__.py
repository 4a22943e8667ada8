"""Reconciliation engine: which records are the same person. Pure, no database.

names -> features -> blocking -> model -> cluster, orchestrated by linker; records reads
CSV input; synthetic makes evaluation data with the truth; evaluate scores against it.
See docs/reconciliation.md.
"""
