# fastlvs — run everything as root (namespaces, XDP, AF_XDP).
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: build test demo bench lint fuzz

build:
	$(GO) build -o bin/fastlvs ./cmd/fastlvs
	$(GO) build -o bin/fastlvsadm ./cmd/fastlvsadm
	$(GO) build -o bin/fastlvs-decap ./cmd/fastlvs-decap
	$(GO) build -o bin/fastlvs-toa ./cmd/fastlvs-toa

# The whole suite: formatting, vet, unit and end-to-end tests (root needed).
# The end-to-end tests and the benchmark's smoke run go one package at a time
# after the rest: the smoke run pins a real-time packet sink to a core at
# about 1 Mpps, which must not starve a director under test.
SERIAL_PACKAGES = ./e2e ./bench
test: lint
	$(GO) test -count=1 -timeout 15m $$($(GO) list ./... | grep -v -e '/e2e$$' -e '/bench$$')
	$(GO) test -count=1 -timeout 15m -p 1 $(SERIAL_PACKAGES)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

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
	$(GO) test -run '^$$' -fuzz FuzzClientAddress -fuzztime 30s ./dataplane
	$(GO) test -run '^$$' -fuzz FuzzEncode -fuzztime 20s ./proxyproto
	$(GO) test -run '^$$' -fuzz FuzzSyncDatagram -fuzztime 30s ./control && $(GO) test -run '^$$' -fuzz FuzzSyncApply -fuzztime 30s ./dataplane
