"""``python -m jobs <stage> [OPTIONS | --request JSON] [--emit-summary]``: one pipeline stage as
a Ray job (or against a local Ray).

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m jobs collect --author "Maya Okafor" --link https://medium.com/@maya
"""

import sys

from twin.stages.job import main

if __name__ == "__main__":
    sys.exit(main())
