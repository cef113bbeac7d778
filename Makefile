# troupe: set-up, build, demo and tests. `make demo` and `make test` do all
# set-up on a fresh Debian 12 machine.

BUILD   ?= build
JOBS    ?= $(shell nproc)
CONFIG  ?= config/troupe.json
DEMO_WF ?= workflows/complex-choreography.json
DEMO_ROOT ?= $(BUILD)/demo-root
CAF_NODE = $(BUILD)/caf-node

.PHONY: all deps build demo test bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# A demo workflow end to end with the built-in simulator; prints the report.
demo: build
	rm -rf $(DEMO_ROOT) && mkdir -p $(DEMO_ROOT)
	$(CAF_NODE) run $(DEMO_WF) --root $(DEMO_ROOT) --config $(CONFIG) --executor sim

# Every test: core unit tests, CAF actor suites, integration with real
# processes and files. Fails loudly on any failure.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)
