# anvil: every entry point. `make demo` and `make test` do all of their own
# setup (as root on a fresh Debian 12 machine), starting with `make deps`.
SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
PYPY ?= /usr/bin/pypy3
BUILD ?= build
BUILD_PYPY ?= build-pypy
BUILD_ASAN ?= build-asan
BUILD_ASAN_PY ?= build-asan-py
BUILD_TSAN ?= build-tsan
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 600
QUICK ?=
export PYTHONPATH := $(CURDIR)/python

# Everything the project builds, tests and benchmarks with; all from Debian.
DEPS := cmake make g++ clang-14 libclang-rt-14-dev clang-format-14 \
	libboost1.81-dev node-llhttp pybind11-dev python3-dev pypy3 pypy3-dev \
	libgtest-dev libbenchmark-dev liburing-dev python3-pytest libhttp-parser-dev \
	python3-pip python3-setuptools python3-wheel python3-venv pypy3-venv \
	python3-flask python3-falcon python3-bottle nginx-light iproute2 \
	python3-cffi python3-pytest-xdist
# Peers the benchmarks and the survey compare against (and nginx-light, in
# DEPS for make cluster).
BENCH_DEPS := wrk apache2-utils uwsgi uwsgi-plugin-python3 python3-django \
	python3-cheroot python3-tornado python3-eventlet python3-twisted python3-gevent \
	gunicorn python3-waitress python3-matplotlib python3-locust procps util-linux \
	python3-uvicorn python3-uvloop python3-httptools python3-h11 python3-hypercorn
# The parsers of the surveyed servers, for the parser shoot-out (make parsers).
PARSERS_DEPS := python3-gunicorn python3-waitress python3-tornado python3-twisted \
	python3-gevent python3-eventlet python3-cheroot python3-h11 python3-httptools \
	python3-matplotlib util-linux

.PHONY: all deps bench-deps build build-pypy test test-unit test-asan test-fuzz \
	test-python test-bench test-install test-cluster test-asan-python test-tsan test-soak \
	test-builds asan-build asan-py-build tsan-build fuzz-build \
	cluster demo bench fuzz soak survey apps parsers parsers-deps format format-check clean

all: build

# Installs only what dpkg says is missing; `apt-get update` first if anything is.
deps:
	@./.ci/deps.sh $(DEPS)

bench-deps: deps
	@./.ci/deps.sh $(BENCH_DEPS)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DPYTHON_EXECUTABLE=$(PYTHON)
	cmake --build $(BUILD) -j$(JOBS)
	$(MAKE) --no-print-directory build-pypy

# The _core extension and the cffi binding (_cffi_host) for PyPy: its own
# configure, only the extensions.
build-pypy:
	cmake -S . -B $(BUILD_PYPY) -DCMAKE_BUILD_TYPE=Release -DANVIL_PYEXT_ONLY=ON \
		-DPYTHON_EXECUTABLE=$(PYPY)
	cmake --build $(BUILD_PYPY) -j$(JOBS) --target _core _cffi_host

# Every suite (tests/run_all.sh): the plain ones first while the sanitizer and
# fuzz builds (test-builds) run beside them at nice 19, then the sanitizer ones;
# each step's time is printed.
test: build
	@MAKE="$(MAKE)" BUILD="$(BUILD)" tests/run_all.sh

# The builds of the sanitizer and fuzz suites, without running anything.
test-builds: asan-build asan-py-build tsan-build fuzz-build

test-unit:
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The C++ suites once more under AddressSanitizer + UndefinedBehaviorSanitizer:
# each GoogleTest binary (bin/*_tests) once, in one process (ctest's process per
# case took 5x as long under ASan), then the other ctest tests.
test-asan: deps asan-build
	cd $(BUILD_ASAN) && for t in bin/*_tests; do \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 timeout 900 $$t --gtest_brief=1 || exit 1; done
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j$(JOBS) -R '^httpparse\.|_corpus$$'

# The pytest suite against a _core built with ASan + UBSan (build-asan-py/), and
# the --threads tests (plus server_tests) against one built with TSan
# (build-tsan/); servers on CPython, any sanitizer report in any process fails.
# A sanitizer build's _core goes to <build>/python/anvil, never python/anvil.
# ASan with clang-14: its UBSan reports go to ASan's log file (g++'s UBSan
# writes to stderr only when ASan is linked too).
ASAN_PY_CONFIG := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANVIL_SANITIZE=ON -DANVIL_PYEXT_ONLY=ON \
	-DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DPYTHON_EXECUTABLE=$(PYTHON) \
	-DANVIL_CORE_OUTPUT_DIR=$(CURDIR)/$(BUILD_ASAN_PY)/python/anvil
TSAN_CONFIG := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANVIL_SANITIZE_THREAD=ON -DANVIL_BUILD_BENCH=OFF \
	-DPYTHON_EXECUTABLE=$(PYTHON) -DANVIL_CORE_OUTPUT_DIR=$(CURDIR)/$(BUILD_TSAN)/python/anvil

test-asan-python: deps asan-py-build
	PYTHON=$(PYTHON) tests/sanitize/run.sh asan $(BUILD_ASAN_PY)

test-tsan: deps tsan-build
	PYTHON=$(PYTHON) tests/sanitize/run.sh tsan $(BUILD_TSAN)

asan-build:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANVIL_SANITIZE=ON \
		-DANVIL_PYTHON=OFF -DANVIL_BUILD_BENCH=OFF
	cmake --build $(BUILD_ASAN) -j$(JOBS)

asan-py-build:
	cmake -S . -B $(BUILD_ASAN_PY) $(ASAN_PY_CONFIG)
	cmake --build $(BUILD_ASAN_PY) -j$(JOBS) --target _core _cffi_host

tsan-build:
	cmake -S . -B $(BUILD_TSAN) $(TSAN_CONFIG)
	cmake --build $(BUILD_TSAN) -j$(JOBS) --target _core _cffi_host server_tests

fuzz-build:
	JOBS=$(JOBS) tests/fuzz/run.sh --build-only

# Every fuzz target, FUZZ_SECONDS split between them; the corpora stay as they are.
test-fuzz: deps
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# The soak test for 60 s, checking only what does not depend on timing.
test-soak: build
	$(PYTHON) bench/soak/soak.py --seconds 60 --check --no-plot --out $(BUILD)/soak

# pytest runs on CPython; the servers under test run on CPython, then on PyPy,
# each on its default WSGI path (capi; cffi), then on each of its other two
# (ANVIL_WSGI_PATH): every path on both interpreters.
# PYTEST_JOBS pytest workers (pytest-xdist) run the files side by side, each
# file's tests in one worker (its module-scoped servers start once); most of
# the suite waits on the servers it starts. PYTEST_JOBS=0: one process.
PYTEST_JOBS ?= 2
PYTEST := $(PYTHON) -m pytest -q -n $(PYTEST_JOBS) --dist loadfile tests/python
test-python: build
	ANVIL_TEST_PYTHON=$(PYTHON) $(PYTEST)
	ANVIL_TEST_PYTHON=$(PYPY) $(PYTEST)
	@echo "test-python: again with each interpreter on its other WSGI paths (ANVIL_WSGI_PATH)"
	ANVIL_WSGI_PATH=python ANVIL_TEST_PYTHON=$(PYTHON) $(PYTEST)
	ANVIL_WSGI_PATH=cffi ANVIL_TEST_PYTHON=$(PYTHON) $(PYTEST)
	ANVIL_WSGI_PATH=python ANVIL_TEST_PYTHON=$(PYPY) $(PYTEST)
	ANVIL_WSGI_PATH=capi ANVIL_TEST_PYTHON=$(PYPY) $(PYTEST)

# pip install, offline, into a fresh venv per interpreter (a copy of the
# checkout, built in a temporary folder), then the installed `anvil` serves an
# app from the app's own folder; also `pip install -e`.
test-install: deps
	tests/install/run.sh $(PYTHON) $(PYPY)

# make cluster, short and with 2 hosts; skipped, with the reason, where network
# namespaces cannot be made (it needs root).
test-cluster: build
	@PYTHON=$(PYTHON) HAMMER=$(BUILD)/bin/hammer N=2 QUICK=1 deploy/cluster.sh; rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "test-cluster: skipped (the reason is above)"; exit 0; fi; exit $$rc

# CLUSTER_HOSTS anvil hosts in network namespaces behind nginx: every host
# serves, one is killed and restarted during a run, no GET fails (needs root).
CLUSTER_HOSTS ?= 3
cluster: build
	PYTHON=$(PYTHON) HAMMER=$(BUILD)/bin/hammer N=$(CLUSTER_HOSTS) deploy/cluster.sh

# The benchmarks' own tests: the measurement library (bench/measure), the apps
# harness (bench/apps), one short end-to-end cell included (about a minute), and
# the parser shoot-out's harness (bench/parsers).
test-bench: build bench-deps parsers-deps
	$(PYTHON) -m pytest -q tests/bench

# Every fuzz target; inputs that add coverage are merged into tests/fuzz/corpus*/.
fuzz: deps
	tests/fuzz/run.sh --grow $(FUZZ_SECONDS)

# SOAK_SECONDS of load and hostile clients; bench/results/soak.json, soak.png, SOAK.md.
soak: build bench-deps
	$(PYTHON) bench/soak/soak.py --seconds $(SOAK_SECONDS)

# The quick cost ladder (survey.py --demo): anvil with both parsers and native,
# the pure-Python reference server with both; PyPy's cells warmed until their
# CPU per request settles; medians (min-max) of 5 runs, differences inside
# their runs' spread printed as within noise; writes nothing; under 5 minutes.
# DEMO_ARGS passes options through, e.g. DEMO_ARGS="--out build/demo-1.json" to
# keep the figures for survey.py --compare.
demo: build
	$(PYTHON) bench/survey/survey.py --demo $(DEMO_ARGS)

bench: build bench-deps
	bench/parser/run.sh
	@if [ -x bench/server/run.sh ]; then bench/server/run.sh; fi
	@if [ -x bench/loadgen/run.sh ]; then bench/loadgen/run.sh; fi
	$(PYTHON) bench/hardening/run.py --build $(BUILD)

# The WSGI server survey and its two ladders (bench/survey/survey.py): the
# survey's workload at its full size, the others reduced; 1.5 to 2.5 hours.
# QUICK=1: a reduced matrix into build/survey-quick/, about 5 minutes.
# SURVEY_ARGS passes options through, e.g. SURVEY_ARGS=--resume after an
# interruption, SURVEY_ARGS=--estimate for the plan.
survey: build bench-deps
	$(PYTHON) bench/survey/survey.py $(if $(QUICK),--quick,) $(SURVEY_ARGS)

# Real apps (Flask, Django, Falcon, hello) on every server and runtime: CPU per
# request, the server's share, latency against offered load (bench/apps/run.py).
# QUICK=1: a reduced matrix into build/apps-quick/. APPS_ARGS passes options
# through, e.g. APPS_ARGS=--resume after an interrupted full run.
apps: build bench-deps
	$(PYTHON) bench/apps/run.py $(if $(QUICK),--quick,) $(APPS_ARGS)

parsers-deps: deps
	@./.ci/deps.sh $(PARSERS_DEPS)

# The parser shoot-out (bench/parsers/): QUICK=1 is a reduced run into
# build/parsers-quick/; the full one writes bench/results/ and the README.
parsers: build parsers-deps
	$(PYTHON) bench/parsers/run.py --build-dir $(BUILD) $(if $(QUICK),--quick,)

format:
	clang-format-14 -i $$(git ls-files '*.cpp' '*.hpp' '*.h')

# Fails when a C++ file is not as .clang-format lays it out.
format-check: deps
	clang-format-14 --dry-run -Werror $$(git ls-files '*.cpp' '*.hpp' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_PYPY) $(BUILD_ASAN) $(BUILD_ASAN_PY) $(BUILD_TSAN) build-fuzz \
		build-pip python/anvil/_core*.so python/anvil/_cffi_host*.so python/anvil/libanvil_host.so \
		python/anvil.egg-info
