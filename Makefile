# The two commands of the README: `make run` and `make test`. Both install what is missing first.
PORT ?= 8080
ARGS ?=

.PHONY: run test test-powercut deb release debug bench setup-run setup-test

run: setup-run release
	.build/release/blackbox run --port $(PORT) $(ARGS)

# The e2e files run three at a time, each file's tests in order on one worker (they wait on real time far more than they
# use the CPU: one at a time they used a third of it), the slowest files first (tests/e2e/conftest.py); the VM and
# power-cut tests boot QEMU and run alone.
# Each stage prints the time it starts, so that a slow CI run shows which stage grew.
test: setup-test debug
	@date -u +"make test: %T unit tests"
	swift test
	@date -u +"make test: %T end-to-end tests"
	.venv/bin/python -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder --durations=40 tests/e2e
	@date -u +"make test: %T VM tests"
	tests/vm/run.sh .venv/bin/python -m pytest -q -p no:cacheprovider --color=no tests/vm
	@date -u +"make test: %T power-cut tests"
	.venv/bin/python -m pytest -q -p no:cacheprovider --color=no tests/power
	@date -u +"make test: %T package test"
	.venv/bin/python -m pytest -q -p no:cacheprovider --color=no tests/package
	@date -u +"make test: %T done"

# The full power-cut run: 30 cuts on each of ext4, FAT32 and exFAT (make test makes 3 on ext4 and FAT32).
test-powercut: setup-test debug
	BLACKBOX_POWER_CUTS=30 BLACKBOX_POWER_FS="ext4 vfat exfat" .venv/bin/python -m pytest -q -s -p no:cacheprovider --color=no tests/power

# blackbox_VERSION_ARCH.deb: a static-Swift release build with its unit, configuration and maintainer scripts, checked
# by lintian (scripts/make-deb.sh says what is in it).
deb:
	scripts/setup.sh deb
	scripts/make-deb.sh
	lintian --fail-on error blackbox_*.deb

bench: setup-run release
	.build/release/blackbox bench $(ARGS)

release:
	swift build -c release

debug:
	swift build

setup-run:
	scripts/setup.sh run

setup-test:
	@date -u +"%T setup"
	scripts/setup.sh test
	@date -u +"%T setup done"
