# troupe: set-up, build, demo and tests. `make demo` and `make test` do all
# set-up on a fresh Debian 12 machine.

BUILD   ?= build
JOBS    ?= $(shell nproc)
CONFIG  ?= config/troupe.json
DEMO_WF ?= workflows/complex-choreography.json
DEMO_ROOT ?= $(BUILD)/demo-root
CAF_NODE = $(BUILD)/caf-node

.PHONY: all deps build demo demo-request test bench spend-accuracy limits-long fuzz fuzz-build fuzz-smoke asan tsan soak clean claude-cli cli-setup cli-auth cli-status \
        cli-test-parallel cli-test-sequential batch-evaluate cli-start cli-stop cli-logs \
        orchestration-start orchestration-cli-submit-tasks

ROOT ?= .
WORKERS = $(shell jq -r '.workers | keys[]' $(CONFIG) 2>/dev/null)

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

# A plain-language request planned and answered offline (keyword router,
# template answer). REQUEST_EXECUTOR= (empty) uses the configured agents instead.
REQUEST ?= Evaluate all students in my hip-hop class
REQUEST_CONTEXT ?= workflows/context/hip-hop-class.json
REQUEST_EXECUTOR ?= sim
demo-request: build
	rm -rf $(DEMO_ROOT) && mkdir -p $(DEMO_ROOT)
	$(CAF_NODE) run "$(REQUEST)" --context $(REQUEST_CONTEXT) --root $(DEMO_ROOT) --config $(CONFIG) \
	  $(if $(REQUEST_EXECUTOR),--executor $(REQUEST_EXECUTOR))

# The real Claude Code CLI, at the version pinned in tests/claude-cli/
# (package.json + package-lock.json), for the tests that prove the
# integration against a local mock of the Messages API.
CLAUDE_CLI = tests/claude-cli/node_modules/.bin/claude
claude-cli: deps
	@v=$$(jq -r '.dependencies["@anthropic-ai/claude-code"]' tests/claude-cli/package.json); \
	if ! $(CLAUDE_CLI) --version 2>/dev/null | grep -q "^$$v "; then \
	  echo "installing @anthropic-ai/claude-code $$v into tests/claude-cli"; \
	  cd tests/claude-cli && npm ci --no-audit --no-fund --loglevel=error; \
	fi

# Every test: core unit tests, CAF actor suites, integration with real
# processes and files, and the real Claude Code CLI against a mock API;
# then the fuzz smoke, and the unit and actor suites again under ASan +
# UBSan and TSan. Fails loudly on any failure.
test: build claude-cli
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) fuzz-smoke
	$(MAKE) asan
	$(MAKE) tsan

bench: build
	bench/run.sh $(BUILD)

# How often a task's cost falls inside its estimate, and how far a run
# budget overshoots, with the real CLI against the mock (about 3 minutes).
spend-accuracy: build claude-cli
	bash bench/spend_accuracy.sh $(BUILD) 3

# The long limiter runs: 3 workers x 30 two-request tasks through the
# gateway under a binding 60,000 input tokens a minute (the tests run 3 x 8),
# on one orchestrator, then on two sharing a Redis queue.
# GATEWAY=false: per-run permits instead.
limits-long: build claude-cli
	TASKS=30 bash tests/integration/real_claude_limits.sh $(CAF_NODE) .
	TASKS=30 bash tests/integration/real_claude_shared_limits.sh $(CAF_NODE) .

# libFuzzer targets (fuzz/), built apart with clang-14 and ASan + UBSan.
# `make fuzz` runs each for FUZZ_RUNS executions (10 M); `make test` runs
# each briefly on its corpus (fuzz-smoke).
FUZZ_BUILD ?= build-fuzz
FUZZ_RUNS ?= 10000000
FUZZ_SMOKE_RUNS ?= 20000
$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S fuzz -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++-14

fuzz-build: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz: fuzz-build
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_RUNS)

fuzz-smoke: fuzz-build
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_RUNS)

# The unit tests and the actor suites under sanitizers, each build in a
# folder of its own with only the test executables (tests/sanitizers/ has
# their options and suppressions). `make asan`: all of them under ASan +
# UBSan. `make tsan`: the actor suites, core's and the gateway's under TSan;
# not bridge_tests, whose one test with threads (inline_unit) hands messages
# through CAF's scheduler, whose synchronisation TSan cannot see in Debian's
# uninstrumented libcaf: every message would be reported. gcc, as the main
# build (Debian's CAF is built against its libstdc++); -O0 -g1: UBSan at -O1
# triples the compile time of a CAF file, and the suites run in seconds.
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
ASAN_TESTS = core_tests bridge_tests gateway_tests actor_tests redis_tests
TSAN_TESTS = core_tests gateway_tests actor_tests
SAN_CMAKE = -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DTROUPE_BENCH=OFF
$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) $(SAN_CMAKE) -DTROUPE_SANITIZE=address,undefined
$(TSAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(TSAN_BUILD) $(SAN_CMAKE) -DTROUPE_SANITIZE=thread

# ctest -L '^(a|b)$': the tests of the executables a and b.
SAN_LABELS = -L '^($(subst $(eval) ,|,$(strip $(1))))$$'
asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target $(ASAN_TESTS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) $(call SAN_LABELS,$(ASAN_TESTS))

tsan: deps $(TSAN_BUILD)/CMakeCache.txt
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TESTS)
	cd $(TSAN_BUILD) && ctest --output-on-failure -j $(JOBS) $(call SAN_LABELS,$(TSAN_TESTS))

# The long soak (bench/soak.sh): mixed load on an orchestrator and six worker
# nodes for 30 minutes while nodes are killed and the orchestrator restarted;
# it reports lost and duplicate results and each process's RSS and
# descriptors over time (SOAK_ARGS="--minutes 60 --out DIR"). The test
# suite runs it for 50 s (tests/integration/soak.sh).
soak: build
	nice -n 10 bash bench/soak.sh $(CAF_NODE) . $(SOAK_ARGS)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) $(ASAN_BUILD) $(TSAN_BUILD)

# -- the file drop (caf-node serve) -----------------------------------------

# Folders of every configured worker under ROOT (default .), and the auth
# home of the orchestrator, which plans requests and writes their answers.
cli-setup: build
	@for w in $(WORKERS); do \
	  mkdir -p $(ROOT)/tasks/$$w $(ROOT)/results/$$w $(ROOT)/workspaces/$$w $(ROOT)/auth-homes/$$w/.claude; \
	done
	@mkdir -p $(ROOT)/auth-homes/orchestrator/.claude
	@echo "ready: tasks/, results/, workspaces/, auth-homes/ for: $(WORKERS); auth-homes/orchestrator/"
	@echo "start the node with: $(CAF_NODE) serve --root $(ROOT)"

# Each worker's own Claude Code login (its CLAUDE_CONFIG_DIR), and the
# orchestrator's: checked with the CLI, logged in on the spot in a terminal.
cli-auth:
	@scripts/cli-auth.sh $(ROOT) $(CONFIG)

cli-status: build
	$(CAF_NODE) status --root $(ROOT) --config $(CONFIG)

# A demo workflow through the file drop (EXECUTOR=sim to run offline).
cli-test-parallel: cli-setup
	TROUPE_ROOT=$(ROOT) CAF_NODE=$(CAF_NODE) scripts/cli-test.sh parallel

cli-test-sequential: cli-setup
	TROUPE_ROOT=$(ROOT) CAF_NODE=$(CAF_NODE) scripts/cli-test.sh sequential

# The seed's names. orchestration-start runs the file drop in the foreground
# (EXECUTOR=sim offline); orchestration-cli-submit-tasks WORKFLOW=<file>
# drops a workflow's tasks and waits for their results (starting serve for
# the while if none runs on ROOT).
orchestration-start: cli-setup
	$(CAF_NODE) serve --root $(ROOT) --config $(CONFIG) $(if $(EXECUTOR),--executor $(EXECUTOR))

orchestration-cli-submit-tasks: cli-setup
	@[ -n "$(WORKFLOW)" ] || { echo "usage: make orchestration-cli-submit-tasks WORKFLOW=<workflow file>" >&2; exit 2; }
	TROUPE_ROOT=$(ROOT) CAF_NODE=$(CAF_NODE) scripts/cli-test.sh --workflow $(WORKFLOW)

# The container topology (docker-compose.yml): an orchestrator and one node
# per worker. Needs a Docker engine; `docker-compose config` checks the file.
COMPOSE ?= docker-compose
cli-start: cli-setup
	$(COMPOSE) up -d --build

cli-stop:
	$(COMPOSE) down

cli-logs:
	$(COMPOSE) logs -f --tail=100

# Evaluates a class: make batch-evaluate STUDENTS=roster.txt (serve running).
batch-evaluate:
	@[ -n "$(STUDENTS)" ] || { echo "usage: make batch-evaluate STUDENTS=<roster file>" >&2; exit 2; }
	TROUPE_ROOT=$(ROOT) scripts/batch-evaluate.sh $(STUDENTS)
