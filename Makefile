# Build, test and package sriovctl.
#
#   make build      build/sriovctl and build/sriovctl-kube, stamped with version, commit and build date
#   make test       go vet and go test
#   make dist       man pages and shell completions in build/dist
#   make package    build/sriovctl_VERSION_ARCH.deb (nfpm, pinned below, run through the module proxy)
#
# GOTOOLCHAIN is passed through: CI builds with the newest Go 1.26 patch release (see .ci/run) while go.mod
# keeps the Go version a plain machine has.

GO        ?= go
NFPM_VERSION := v2.45.2
NFPM      ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
PKG       := github.com/sriovctl/sriovctl/internal/cli
BUILD     := build

# A Debian version must start with a digit: tag v1.2.3 becomes 1.2.3; an untagged checkout
# 0.0.0~git<commit date>.<short commit>.
GIT_TAG   := $(shell git describe --tags --exact-match 2>/dev/null)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
BUILD_DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
VERSION   ?= $(if $(GIT_TAG),$(patsubst v%,%,$(GIT_TAG)),0.0.0~git$(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y%m%d).$(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown))
GOARCH    ?= $(shell $(GO) env GOARCH)
# Debian's names for Go's architectures where they differ.
DEB_ARCH  := $(or $(patsubst 386,i386,$(patsubst arm,armhf,$(filter 386 arm,$(GOARCH)))),$(GOARCH))

LDFLAGS := -s -w -X $(PKG).version=$(VERSION) -X $(PKG).commit=$(COMMIT) -X $(PKG).buildDate=$(BUILD_DATE)

export SOURCE_DATE_EPOCH

.PHONY: all build test dist package clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)' -o $(BUILD)/sriovctl ./cmd/sriovctl
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)' -o $(BUILD)/sriovctl-kube ./cmd/sriovctl-kube

test:
	$(GO) vet ./...
	$(GO) test ./...

dist:
	rm -rf $(BUILD)/dist
	$(GO) run ./cmd/sriovctl-dist -out $(BUILD)/dist -version $(VERSION)
	gzip -9n $(BUILD)/dist/man/man1/*.1

package: build dist
	VERSION='$(VERSION)' ARCH='$(DEB_ARCH)' $(NFPM) package --packager deb --config packaging/nfpm.yaml --target $(BUILD)/
	@ls -l $(BUILD)/*.deb

clean:
	rm -rf $(BUILD)
