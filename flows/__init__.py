"""Prefect flows: each runs its stages' Ray jobs (flows/tasks.py) and follows them to the end.

Their parameters are the stages' request fields (twin/stages; tests/test_stages.py checks
that they agree). ``python -m flows <deployment> -p KEY=VALUE`` runs one once, here.
"""
