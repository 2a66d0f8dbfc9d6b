# Every target sets up what it needs: a virtualenv with pinned packages (requirements.txt).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt setup.py | cksum | cut -d' ' -f1)
SAMPLE_RECORDS ?= 5000
# pytest-xdist workers: each its own SparkSession (and broker); a test file stays on one worker (module fixtures)
TEST_WORKERS ?= 2

.PHONY: venv demo test chromium typecheck bench clean-lake

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

## test: the whole suite (unit + integration, real Spark, real Delta, a real Kafka broker, headless Chromium)
test: venv chromium
	$(PY) -m mypy
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile tests

## chromium: Debian's headless browser for the report test (installed when missing and apt-get can run;
## otherwise that one test is skipped and says why)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the report test ..."; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
				|| echo "chromium could not be installed: the report's browser test will be skipped"; \
		else echo "chromium not installed (needs root and apt-get): the report's browser test will be skipped"; fi; }

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
