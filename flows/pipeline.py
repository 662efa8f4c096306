"""Prefect flow of the 'pipeline' deployment, built from its declaration
(:data:`twin.stages.chains.CHAINS`; parameters: docs/reference/stages.md).

    prefect deployment run 'pipeline/pipeline' --param author="Maya Okafor" \
        --param links='["https://medium.com/@maya"]' --param max_steps=30
"""

from flows.tasks import chain_flow

pipeline_flow = chain_flow("pipeline")
