# The two commands of the README. Each bootstraps .venv on first use, so a fresh
# machine needs nothing but python3 >= 3.11 and make.
#
# What a fresh install gets is pinned: requirements.lock holds every package `make test` installs
# (the runtime dependencies, the test extra, pip and setuptools), with their hashes, and the node
# itself goes in with --no-deps. pyproject.toml keeps ranges for people who use the packages as a
# library. An upgrade is a deliberate commit: `make lock`, then the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv only resolves; nothing it installs reaches .venv.
UV_VERSION := 0.13.9

.PHONY: demo test lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/peppol-node demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Re-resolve both lock files to the newest releases the ranges in pyproject.toml allow:
# requirements.lock (runtime + test extra, installed by make) and docker/requirements.lock
# (runtime only, installed in the image).
lock:
	$(PYTHON) -m venv build/uv
	build/uv/bin/python -m pip install --quiet uv==$(UV_VERSION)
	printf 'pip\nsetuptools\n' > build/uv/tools.in
	build/uv/bin/uv pip compile --quiet --custom-compile-command "make lock" --universal --python-version 3.11 --generate-hashes \
	    --extra test pyproject.toml build/uv/tools.in -o requirements.lock
	build/uv/bin/uv pip compile --quiet --custom-compile-command "make lock" --universal --python-version 3.11 --generate-hashes \
	    pyproject.toml -o docker/requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info
