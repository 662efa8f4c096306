"""Prefect flow of the 'ingest' deployment, built from its declaration
(:data:`twin.stages.chains.CHAINS`; parameters: docs/reference/stages.md).

    prefect deployment run 'ingest/ingest' [--param full=true]
"""

from flows.tasks import chain_flow

ingest_flow = chain_flow("ingest")
