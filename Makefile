# Convenience targets. The shell scripts are the real entry points (they work from any
# directory and are what CI runs); this Makefile only forwards to them:
#   scripts/test.sh        install deps, debug build, throwaway PostgreSQL, swift test
#   scripts/demo.sh        end-to-end demo on a fresh Debian machine (./demo/)
#   bench/foundation.sh    on-demand benchmark against pg_dump (never run in CI)
# Extra arguments: make test ARGS='--filter EndToEnd'; make bench SCALE=2

SHELL := /bin/bash
ARGS ?=
SCALE ?= 50

.PHONY: all build test demo bench clean

all: build

build:
	swift build -c release

test:
	scripts/test.sh $(ARGS)

demo:
	scripts/demo.sh

bench:
	SCALE=$(SCALE) bench/foundation.sh

# Removes build products and ./demo (vault, restore dirs, demo cluster).
clean:
	swift package clean
	rm -rf demo
