"""Evaluation: does the twin sound like the author (style, voice score, and with a judge, a
blind forced choice against the author's own text), does it answer (judge), and does
retrieval find the right material (hit rate, MRR) under each retrieval setting."""
