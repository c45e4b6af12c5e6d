# Two commands for a newcomer: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch==2.13.0 is installed first and on its own, because any other spec pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev

.PHONY: demo test install clean

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

demo: $(VENV)/.installed-$(EXTRAS)
	$(VENV)/bin/sotriage demo

test: $(VENV)/.installed-$(EXTRAS)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
