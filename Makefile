# Stint build, test and benchmark entry points.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Services the tests run for real, as binary:debian-package pairs.
# (Chromium joins when the web UI lands.)
export STINT_TEST_SERVICES ?= pg_ctlcluster:postgresql psql:postgresql-client /usr/sbin/sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client
# In `make test` and CI nothing may skip for want of a service.
export STINT_REQUIRE_SERVICES ?= 1

.PHONY: all build test test-deps vet fuzz bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/stint ./cmd/stint

test-deps:
	./scripts/test-deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

test: test-deps vet
	$(GO) test -count=1 -timeout 12m ./...
	$(GO) test -count=1 -race -timeout 10m ./internal/expiry/... ./internal/clocktest/... ./internal/broker/... ./internal/httpapi/... ./internal/notify/... ./store/...

# Short fuzzing runs of the parsers; seeds live in each package's testdata/fuzz.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./internal/config
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 60s ./internal/audit

# Figures for the performance targets; printed, never asserted.
bench: test-deps
	$(GO) run ./bench/grants
	$(GO) run ./bench/postgres

clean:
	rm -rf bin
