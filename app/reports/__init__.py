"""Reports for Dinas Sosial: aggregates in SQL over canonical records (see docs/reports.md)."""
