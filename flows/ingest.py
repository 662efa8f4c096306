"""Prefect flow: the ingest Ray job (parameters: the ingest stage's request fields).

    prefect deployment run 'ingest/ingest' [--param full=true]
"""

from flows.tasks import stage_flow

ingest_flow = stage_flow("ingest", "Ingest the warehouse into Milvus, as a Ray job; fails if "
                         "the job fails.")
