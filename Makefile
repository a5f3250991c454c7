# fastlvs — run everything as root (namespaces, XDP, AF_XDP).
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: build test test-deps demo bench lint fuzz install deb

# The version and commit every binary prints, stamped from git (a tarball
# without .git falls back to what the Go toolchain recorded, if anything).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS = $(EXTRA_LDFLAGS) -X fastlvs/cmd/internal/cli.Version=$(VERSION) -X fastlvs/cmd/internal/cli.Commit=$(COMMIT)
COMMANDS = fastlvs fastlvsadm fastlvs-decap fastlvs-toa

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
# (nftables, wrk, haproxy, trafgen from netsniff-ng, and gcc with libxdp-dev
# and libbpf-dev for the C forwarder it compiles), and systemd-analyze
# (systemd) for the package test, hping3 for the SYN floods and chromium
# for the web monitor's browser test, nginx for the PROXY protocol real
# servers. Installed only when missing.
TEST_PACKAGES = iproute2 ethtool iputils-ping tcpdump prometheus nftables wrk haproxy netsniff-ng systemd \
	hping3 chromium bird2 keepalived nginx gcc libxdp-dev libbpf-dev
test-deps:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi

STATICCHECK_VERSION = v0.8.2
# $(shell) in make 4.3 does not see the exported PATH: pass it.
STATICCHECK = $(shell PATH='$(PATH)' $(GO) env GOPATH)/bin/staticcheck
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

# Packet-rate and TCP benchmarks against the peers (about eight minutes;
# fastlvs nat and the C forwarder also at nice:-10 and SCHED_FIFO 10).
# The peers come from Debian: trafgen (netsniff-ng), nftables, wrk, haproxy,
# dpdk-testpmd (dpdk-dev with the AF_XDP driver), and the compiler and
# libraries of the project's C AF_XDP forwarder (gcc, libxdp-dev, libbpf-dev).
# A shorter run: go run ./bench/cmd/fastlvs-bench -targets fastlvs-nat,cforward
# -flows 1,60000 -priority normal,fifo:10 -duration 1s -repeats 1 -tcp=false
BENCH_PACKAGES = netsniff-ng nftables wrk haproxy dpdk dpdk-dev librte-net-af-xdp23 ethtool iproute2 gcc libxdp-dev libbpf-dev
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

# Install the binaries, the systemd unit, the example configuration, the man
# pages and the bash completion: make install [DESTDIR=...] [PREFIX=...].
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
DOCDIR ?= $(PREFIX)/share/doc/fastlvs
install: build
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(COMPLETIONDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/fastlvs $(DESTDIR)$(SYSCONFDIR)/default $(DESTDIR)$(DOCDIR)
	install -m 0755 $(addprefix bin/,$(COMMANDS)) $(DESTDIR)$(SBINDIR)/
	sed 's|/usr/sbin/fastlvs|$(SBINDIR)/fastlvs|; s|/etc/|$(SYSCONFDIR)/|g' deploy/systemd/fastlvs.service > $(DESTDIR)$(UNITDIR)/fastlvs.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/fastlvs.service
	install -m 0644 deploy/systemd/fastlvs.default $(DESTDIR)$(SYSCONFDIR)/default/fastlvs
	install -m 0640 deploy/fastlvs.yaml $(DESTDIR)$(SYSCONFDIR)/fastlvs/fastlvs.yaml
	install -m 0644 control/testdata/config/full.yaml $(DESTDIR)$(DOCDIR)/fastlvs.full.yaml
	for m in fastlvs fastlvsadm; do gzip -9n < deploy/man/$$m.8 > $(DESTDIR)$(MANDIR)/man8/$$m.8.gz || exit 1; done
	install -m 0644 deploy/completion/fastlvs.bash $(DESTDIR)$(COMPLETIONDIR)/fastlvs
	ln -sf fastlvs $(DESTDIR)$(COMPLETIONDIR)/fastlvs-decap
	install -m 0644 deploy/completion/fastlvsadm.bash $(DESTDIR)$(COMPLETIONDIR)/fastlvsadm
	install -m 0644 README.md docs/OPERATIONS.md deploy/grafana/fastlvs.json deploy/prometheus/alerts.yaml $(DESTDIR)$(DOCDIR)/
	install -m 0644 LICENSE $(DESTDIR)$(DOCDIR)/copyright

# A Debian package of the above under /usr (binaries stripped), built with
# dpkg-deb alone:
# bin/fastlvs_<version>_<arch>.deb. The configuration files are conffiles;
# the service is not enabled: set the interfaces first, then
# systemctl enable --now fastlvs.
DEB_VERSION ?= 0.1.0+git$(shell git rev-parse --short=12 HEAD 2>/dev/null || echo 0)
DEB_ARCH = $(shell dpkg --print-architecture)
DEB_ROOT = bin/deb
DEB = bin/fastlvs_$(DEB_VERSION)_$(DEB_ARCH).deb
deb:
	rm -rf $(DEB_ROOT)
	$(MAKE) install DESTDIR=$(abspath $(DEB_ROOT)) EXTRA_LDFLAGS="-s -w" PREFIX=/usr UNITDIR=/lib/systemd/system
	install -d $(DEB_ROOT)/DEBIAN
	sed 's/@VERSION@/$(DEB_VERSION)/; s/@ARCH@/$(DEB_ARCH)/; s/@SIZE@/'"$$(du -sk $(DEB_ROOT) | cut -f1)"'/' \
		deploy/debian/control > $(DEB_ROOT)/DEBIAN/control
	install -m 0644 deploy/debian/conffiles $(DEB_ROOT)/DEBIAN/conffiles
	install -m 0755 deploy/debian/postinst deploy/debian/postrm $(DEB_ROOT)/DEBIAN/
	dpkg-deb --root-owner-group -Zgzip --build $(DEB_ROOT) $(DEB)
