"""The pure model: DAGs, operators, trigger rules, states (no Dask, no database)."""
