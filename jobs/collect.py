"""`python jobs/collect.py ARGS` is `python -m jobs collect ARGS`, kept for existing scripts.

A Ray job's working directory is on its PYTHONPATH; elsewhere prefer `python -m jobs`.
"""

import sys

from twin.stages.job import main

if __name__ == "__main__":
    sys.exit(main(["collect", *sys.argv[1:]]))
