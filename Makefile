# The two commands of the README. Each sets up .venv first (fast when already done).
.PHONY: demo test lint bench

demo:
	@scripts/setup.sh
	@HF_HUB_OFFLINE=1 .venv/bin/bert2sk demo

test:
	@scripts/setup.sh --test
	@HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m "not slow" -q

# ruff comes with the test tools: scripts/setup.sh --test (or make test) installs it.
lint:
	@test -x .venv/bin/ruff || { echo "make lint: no .venv/bin/ruff; run scripts/setup.sh --test first"; exit 1; }
	@.venv/bin/ruff check bert2sk tests benchmarks examples

# Each benchmark prints and saves its result to reports/benchmarks/NAME.txt. The demo teacher
# (fine-tuned once by make demo) is the trained teacher. Needs .venv (make demo or make test sets it up);
# long: run it on an otherwise idle machine.
bench:
	@HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/labelling.py --teacher demo
	@HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/explain.py --teacher demo
	@HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/multioutput.py
