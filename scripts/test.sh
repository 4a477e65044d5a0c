#!/usr/bin/env bash
# The one test command (README): install the project with its test extras, fetch the Kafka
# jars into the user cache (Maven Central), lint, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -c 'from engine.adapters.kafka.local_broker import ensure_kafka_libs; print("kafka jars:", ensure_kafka_libs())'
python3 -m ruff check engine tests benchmarks
python3 -m mypy
python3 -m engine schema check
python3 -m pytest -q "$@"
