"""Persistence: SQLAlchemy tables, the async database handle and the queries the domain needs."""
