"""Prefect flow of the 'evaluate' deployment, built from its declaration
(:data:`twin.stages.chains.CHAINS`; parameters: docs/reference/stages.md).

    prefect deployment run 'evaluate/evaluate' [--param versions='[2]']
"""

from flows.tasks import chain_flow

evaluate_flow = chain_flow("evaluate")
