# The two commands of the README. Each sets up .venv first (fast when already done).
.PHONY: demo test lint bench

demo:
	@scripts/setup.sh
	@HF_HUB_OFFLINE=1 .venv/bin/bert2sk demo

test:
	@scripts/setup.sh --test
	@HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m "not slow" -q

lint:
	@.venv/bin/ruff check bert2sk tests benchmarks examples

bench:
	@.venv/bin/python benchmarks/labelling.py
	@.venv/bin/python benchmarks/explain.py
	@.venv/bin/python benchmarks/multioutput.py
