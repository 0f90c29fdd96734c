"""Admission: per-key rate limits and budgets (local or shared through Postgres) and the in-flight cap."""
