# Two commands do all set-up on a fresh machine (see README.md):
#   make test   create/update .venv, build everything, run the tests
#   make demo   create/update .venv, run the main job on the embedded demo data
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: setup test demo clean-venv

setup:
	@bash tools/install/setup_env.sh $(VENV)

test: setup
	$(PYTHON) -m pytest tests

demo: setup
	$(PYTHON) tools/demo.py

clean-venv:
	rm -rf $(VENV)
