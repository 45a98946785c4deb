"""The audit service: a tamper-evident, per-tenant log of every event, with query, export and retention."""
