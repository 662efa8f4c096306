"""Evaluation: does the twin sound like the author (style), does it answer (judge), and does
retrieval find the right material (hit rate, MRR) under each retrieval setting."""
