# imasim — see README.md
# Debian's golang-go is too old (go.mod wants 1.26): prefer /usr/local/go.
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO      ?= go
BIN     := bin/imasim
PKGS    := ./...

.PHONY: all build run test test-short vet fmt-check bench fuzz clean deps install-ltp derive-trees

all: build

# The revision for `imasim --version`: the go command stamps it itself
# (-buildvcs=auto) except in a git worktree, so it is passed from git too.
VCS_REV  := $(shell git rev-parse HEAD 2>/dev/null)
VCS_MOD  := $(shell if [ -n "$$(git status --porcelain 2>/dev/null)" ]; then echo true; else echo false; fi)
LDFLAGS  := -X main.vcsRevision=$(VCS_REV) -X main.vcsModified=$(VCS_MOD)

build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/imasim

# The main job: the seed thread's regression under every built-in profile.
run: build
	./$(BIN) scenario xfs-overlay

# The whole test suite, as CI runs it (.ci/run). Tests needing root, QEMU or
# swtpm skip with a reason when those are missing. The packages that boot
# real kernels under QEMU run last, each with its own timeout (well above
# what they take on 2 busy cores) and -v, so their progress shows.
VM_PKGS   := ./scenarios/vm
FAST_PKGS  = $$($(GO) list $(PKGS) | grep -v '/scenarios/vm$$')
test: fmt-check vet
	@echo "== go test: every package but scenarios/vm (model, lists, policies, CLI, probe as root; 2-4 min)"
	$(GO) test -count=1 -timeout 20m $(FAST_PKGS)
	@echo "== go test ./scenarios/vm: every built-in on Debian 6.1, 6.12 and 7.2 under QEMU, the exported scripts and the LTP tests in the guest (8-10 min on 2 cores)"
	$(GO) test -count=1 -timeout 40m -v $(VM_PKGS)
	@if [ -n "$$($(GO) env CC)" ] && command -v $$($(GO) env CC) >/dev/null && [ -f /usr/include/openssl/evp.h ]; then \
		echo "== go vet + go test -tags tpmsim (TPM simulator)"; \
		$(GO) vet -tags tpmsim ./... && $(GO) test -count=1 -tags tpmsim ./tpm/... ./cmd/...; \
	else echo "SKIP -tags tpmsim tests: need gcc and libssl-dev"; fi

test-short:
	$(GO) test -short $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@command -v gofmt >/dev/null || { echo "gofmt not found (install Go 1.26 at /usr/local/go)"; exit 1; }
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: build
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
	./scripts/bench-cli.sh $(BIN)
	./scripts/bench-audit.sh $(BIN)
	./measure/bench.sh
	./ltp-compat/bench.sh
	./scripts/bench-explore.sh $(BIN)
	./scripts/bench-matrix.sh $(BIN)
	@echo "== tpm simulator (needs -tags tpmsim: cgo, libssl-dev)"
	-$(GO) test -tags tpmsim -run '^$$' -bench Extend ./tpm/

# Short fuzzing pass over every parser (FUZZTIME=30s make fuzz for longer).
FUZZTIME ?= 10s
fuzz:
	@for p in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; \
	done

# Install the LTP shell tests, runtest file, data and binary into an LTP tree
# (make install-ltp LTPROOT=/opt/ltp), where kirk finds them.
install-ltp: build
	@test -n "$(LTPROOT)" || { echo "usage: make install-ltp LTPROOT=/path/to/ltp"; exit 2; }
	IMASIM=$(CURDIR)/$(BIN) ./ltp-compat/install.sh "$(LTPROOT)"

# Debian packages the tests and real-kernel runs use (root), and the kernel's
# kunit.py (from linux-source-6.1) that reads the KTAP reports in the tests.
deps:
	./.ci/deps
	./.ci/kunit

clean:
	rm -rf bin

# The LTP shell tests for real on a kernel under QEMU, under the bundled shim
# (make vm-ltp KERNEL=debian:6.1). imasim_overlay_xfs fails on 6.1: that
# kernel audits the program at every exec.
KERNEL ?= debian:7.2
.PHONY: vm-ltp
vm-ltp: build
	@rc=0; \
	./$(BIN) vm --kernel $(KERNEL) --file ltp-compat --env LTP_IMA_LOAD_POLICY=1 run ltp-compat/imasim_overlay_xfs.sh || rc=$$?; \
	./$(BIN) vm --kernel $(KERNEL) --file ltp-compat --file testdata/golden:/imasim-files/testdata/golden run ltp-compat/imasim_model.sh || rc=$$?; \
	exit $$rc

# Pre-fetch the Debian cloud kernels `imasim vm` boots (versions in kernels.lock)
# into ~/.cache/imasim/kernels (root adds the trixie/sid apt sources, pinned low).
.PHONY: kernels
kernels: build
	./$(BIN) vm fetch debian:6.1,debian:6.12,debian:7.2

# Build the test kernels of the built-in patches from Debian's linux-source-7.2
# (imasim kernel build; tinyconfig + scenarios/vm/kbuild/imasim.config): era-6.13,
# then fix-v2 incrementally on era-6.13's objects. Cached in ~/.cache/imasim/kernels/built.
.PHONY: built-kernels
built-kernels: build
	./$(BIN) kernel build --source debian:7.2 --patch era-6.13
	./$(BIN) kernel build --source debian:7.2 --patch fix-v2

# The files imasim profile derive reads, from Debian's linux-source-6.1, -6.12
# and -7.2 (go test ./cache/derive checks derive against the built-ins on them).
derive-trees: build
	./scripts/derive-trees.sh $(BIN)
