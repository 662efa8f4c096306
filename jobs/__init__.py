"""Ray job entry points: ``python -m jobs <stage> ...`` runs one stage (see twin.stages.job)."""
