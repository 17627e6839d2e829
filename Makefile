# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install migrate run worker test bench bench-upload

# The virtual environment is rebuilt whenever requirements.txt changes.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

# Test tools on top (requirements-test.txt): what `make test` needs beyond the app.
$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-test.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

# Serves on http://$(HOST):$(PORT) with a background worker; Ctrl-C stops both.
run: migrate
	$(PY) manage.py ensure_account --url http://$(HOST):$(PORT)/
	$(PY) manage.py measure_worker --no-reload --interval 0.5 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/gunicorn dicomsite.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 4 --timeout 600 --access-logfile -

worker: migrate
	$(PY) manage.py measure_worker --no-reload

test: $(VENV)/.installed-test
	$(PY) -m pytest

bench: install
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-bench.txt
	$(PY) bench/run.py

# The web process's memory while it takes in a 1 GB zip upload.
bench-upload: install
	$(PY) bench/upload_memory.py
