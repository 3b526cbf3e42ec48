# Shortcuts for developers; the README's two commands are scripts/demo.sh and scripts/test.sh.
.PHONY: demo test lint bench
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
lint:
	.venv/bin/ruff check jupyter_sauce tests benchmarks
	.venv/bin/ruff format --check jupyter_sauce tests benchmarks
bench:
	.venv/bin/python benchmarks/bench_engine.py
	.venv/bin/python benchmarks/bench_eve.py
	.venv/bin/python benchmarks/bench_widget.py
