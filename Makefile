# Every target sets up what it needs: a virtualenv with pinned packages (requirements.txt).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt setup.py | cksum | cut -d' ' -f1)
SAMPLE_RECORDS ?= 5000

.PHONY: venv demo test typecheck bench clean-lake

venv: $(STAMP)

$(STAMP): requirements.txt setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned packages into $(VENV) ..."
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

## demo: generate sample files and run the batch job on a lake under ./lake
demo: venv
	$(PY) jobs/generate_sample.py --out data/landing --records $(SAMPLE_RECORDS) --seed 42
	$(PY) jobs/batch_job.py

## test: the whole suite (unit + integration, real Spark, real Delta)
test: venv
	$(PY) -m mypy
	$(PY) -m pytest tests

typecheck: venv
	$(PY) -m mypy

bench: venv
	$(PY) bench/run_all.py

clean-lake:
	rm -rf lake data
