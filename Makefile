# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install migrate run worker test bench bench-upload bench-compressed bench-http

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
	$(PY) manage.py collectstatic --noinput --verbosity 0

# Serves on http://$(HOST):$(PORT) with a background worker, each restarted if it dies; Ctrl-C stops both.
# Gunicorn's other settings are in gunicorn.conf.py, the same for docker-compose.yml.
run: migrate
	$(PY) manage.py ensure_account --url http://$(HOST):$(PORT)/
	$(PY) manage.py supervise \
	    "web=$(VENV)/bin/gunicorn dicomsite.wsgi --bind $(HOST):$(PORT)" \
	    "worker=$(PY) manage.py measure_worker --no-reload --interval 0.2"

worker: migrate
	$(PY) manage.py measure_worker --no-reload

# axe-core (the accessibility check) from the npm registry, as package-lock.json pins it.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

test: $(VENV)/.installed-test node_modules/.installed
	$(PY) -m pytest

bench: install
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-bench.txt
	$(PY) bench/run.py

# Compressed series (RLE, JPEG 2000, JPEG-LS, JPEG lossless): ours against the decoders and SimpleITK.
bench-compressed: install
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-bench.txt
	$(PY) bench/compressed.py

# A 600-slice zip through the API of the server `make run PORT=...` started: BENCH_URL, VOLUMES_ADMIN_PASSWORD.
BENCH_URL ?= http://$(HOST):$(PORT)/
bench-http: install
	$(PY) bench/http_e2e.py --url $(BENCH_URL)

# The web process's memory while it takes in a 1 GB zip upload.
bench-upload: install
	$(PY) bench/upload_memory.py
