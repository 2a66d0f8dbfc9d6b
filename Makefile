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
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-bench.txt
	$(PY) bench/run_all.py

clean-lake:
	rm -rf lake data

## broker-up / broker-down: the embedded Kafka broker (noida-db) on 127.0.0.1:$(KAFKA_PORT), data in $(BROKER_DIR)
KAFKA_PORT ?= 9092
BROKER_DIR ?= data/broker

.PHONY: broker-up broker-down stream-demo

broker-up: venv
	$(PY) -m customer_mdm.embedded_kafka up --data-dir $(BROKER_DIR) --port $(KAFKA_PORT)

broker-down: venv
	$(PY) -m customer_mdm.embedded_kafka down --data-dir $(BROKER_DIR)

## stream-demo: CRM change events (3 of them malformed) through the broker into bronze.crm_events under ./lake
stream-demo: broker-up
	@test -n "$$(ls data/landing/crm/*.csv 2>/dev/null)" || \
		$(PY) jobs/generate_sample.py --out data/landing --records $(SAMPLE_RECORDS) --seed 42
	$(PY) jobs/produce_events.py --partitions 4 --malformed 3
	$(PY) jobs/stream_job.py --trigger available-now
