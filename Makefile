# fastlvs — run everything as root (namespaces, XDP, AF_XDP).
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: build test test-deps demo bench lint fuzz install deb

# The version and commit every binary prints, stamped from git (a tarball
# without .git falls back to what the Go toolchain recorded, if anything).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS = -X fastlvs/cmd/internal/cli.Version=$(VERSION) -X fastlvs/cmd/internal/cli.Commit=$(COMMIT)
COMMANDS = fastlvs fastlvsadm fastlvs-decap

build:
	for c in $(COMMANDS); do $(GO) build -ldflags "$(LDFLAGS)" -o bin/$$c ./cmd/$$c || exit 1; done

# The whole suite: formatting, vet, unit and end-to-end tests (root needed).
# The end-to-end tests and the benchmark's smoke run go one package at a time
# after the rest: the smoke run pins a real-time packet sink to a core at
# about 1 Mpps, which must not starve a director under test.
SERIAL_PACKAGES = ./e2e ./bench
test: test-deps lint
	$(GO) test -count=1 -timeout 15m $$($(GO) list ./... | grep -v -e '/e2e$$' -e '/bench$$')
	$(GO) test -count=1 -timeout 15m -p 1 $(SERIAL_PACKAGES)

# What the tests run besides Go, from Debian: the namespace test bed
# (iproute2, ethtool, ping, tcpdump), promtool and a real scraper
# (prometheus), the benchmark's peers and generator for its smoke test
# (nftables, wrk, haproxy, trafgen from netsniff-ng), and systemd-analyze
# (systemd) for the package test. Installed only when missing.
TEST_PACKAGES = iproute2 ethtool iputils-ping tcpdump prometheus nftables wrk haproxy netsniff-ng systemd
test-deps:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi

STATICCHECK_VERSION = v0.8.2
STATICCHECK = $(shell $(GO) env GOPATH)/bin/staticcheck
lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(STATICCHECK) ./...

$(STATICCHECK):
	GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# A sandbox of namespaces with real traffic through the director.
demo: build
	./bin/fastlvs demo

# Packet-rate and TCP benchmarks against the peers (about four minutes).
# The peers come from Debian: trafgen (netsniff-ng), nftables, wrk, haproxy
# and dpdk-testpmd (dpdk-dev with the AF_XDP driver).
BENCH_PACKAGES = netsniff-ng nftables wrk haproxy dpdk dpdk-dev librte-net-af-xdp23 ethtool iproute2
bench:
	@missing=$$(for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi
	$(GO) run ./bench/cmd/fastlvs-bench -out bench/results

# Fuzz the parser and the per-packet path for a minute each.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./header
	$(GO) test -run '^$$' -fuzz FuzzProcess -fuzztime 60s ./dataplane
