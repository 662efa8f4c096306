"""Prefect flow of the 'train' deployment, built from its declaration
(:data:`twin.stages.chains.CHAINS`; parameters: docs/reference/stages.md).

    prefect deployment run 'train/train' --param max_steps=30
"""

from flows.tasks import chain_flow

train_flow = chain_flow("train")
