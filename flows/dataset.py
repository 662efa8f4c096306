"""Prefect flow: the dataset Ray job (parameters: the dataset stage's request fields).

    prefect deployment run 'dataset/dataset' [--param preference=true]
"""

from flows.tasks import stage_flow

dataset_flow = stage_flow("dataset", "Training datasets from the warehouse, as a Ray job; fails "
                          "if the job fails.")
