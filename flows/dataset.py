"""Prefect flow of the 'dataset' deployment, built from its declaration
(:data:`twin.stages.chains.CHAINS`; parameters: docs/reference/stages.md).

    prefect deployment run 'dataset/dataset' [--param preference=true]
"""

from flows.tasks import chain_flow

dataset_flow = chain_flow("dataset")
