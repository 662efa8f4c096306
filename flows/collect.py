"""Prefect flow of the 'collect' deployment, built from its declaration
(:data:`twin.stages.chains.CHAINS`; parameters: docs/reference/stages.md).

    prefect deployment run 'collect/collect' --param author="Maya Okafor" \
        --param links='["https://medium.com/@maya"]' [--param ingest=false]
"""

from flows.tasks import chain_flow

collect_flow = chain_flow("collect")
