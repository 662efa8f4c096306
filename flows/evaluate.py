"""Prefect flow: the evaluate Ray job (parameters: the evaluate stage's request fields).

    prefect deployment run 'evaluate/evaluate' [--param versions='[2]']
"""

from flows.tasks import stage_flow

evaluate_flow = stage_flow("evaluate", "Evaluate the base model and the twin versions on the "
                           "held-out split; results go to the registry.")
