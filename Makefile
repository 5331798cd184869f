# The two commands of the README: `make run` and `make test`. Both install what is missing first.
PORT ?= 8080
ARGS ?=

.PHONY: run test release debug bench setup-run setup-test

run: setup-run release
	.build/release/blackbox run --port $(PORT) $(ARGS)

test: setup-test debug
	swift test
	.venv/bin/python -m pytest -q --durations=40 tests/e2e
	tests/vm/run.sh .venv/bin/python -m pytest -q -p no:cacheprovider --color=no tests/vm
	.venv/bin/python -m pytest -q -p no:cacheprovider --color=no tests/power

bench: setup-run release
	.build/release/blackbox bench $(ARGS)

release:
	swift build -c release

debug:
	swift build

setup-run:
	scripts/setup.sh run

setup-test:
	scripts/setup.sh test
