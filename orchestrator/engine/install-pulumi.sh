#!/usr/bin/env bash
# Puts a working `pulumi` CLI where the Automation API finds it:
#   $PULUMI_HOME/versions/<version>/bin/pulumi   (the layout PulumiCommand(root=...) expects)
# Order: an existing CLI of at least that version -> the official installer (needs the
# internet) -> a build from the Go module proxy. Idempotent: a second run takes seconds.
set -euo pipefail

# The default is the pin in version.py beside this script (shipped with it in the package).
PINNED="$(sed -n 's/^PINNED_VERSION = "\(.*\)"$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/version.py" 2>/dev/null || true)"
VERSION="${PULUMI_VERSION:-$PINNED}"
[ -n "$VERSION" ] || { printf 'install-pulumi: no version: set PULUMI_VERSION (version.py not found beside the script)\n' >&2; exit 1; }
PULUMI_HOME="${PULUMI_HOME:-$HOME/.pulumi}"
ROOT="$PULUMI_HOME/versions/$VERSION"
TARGET="$ROOT/bin/pulumi"

log() { printf 'install-pulumi: %s\n' "$*" >&2; }

if [ -x "$TARGET" ] && "$TARGET" version >/dev/null 2>&1; then
  log "using cached $TARGET ($("$TARGET" version))"
  echo "$ROOT"
  exit 0
fi

if command -v pulumi >/dev/null 2>&1; then
  found="$(command -v pulumi)"
  have="$(pulumi version 2>/dev/null | sed 's/^v//')"
  if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$VERSION" "$have" | sort -V | head -n1)" = "$VERSION" ]; then
    mkdir -p "$ROOT/bin"
    ln -sf "$found" "$TARGET"
    log "using $found (v$have)"
    echo "$ROOT"
    exit 0
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ "${EC2C_SKIP_DOWNLOAD:-}" != "1" ] && timeout 120 "$PYTHON" - "$ROOT" "$VERSION" >&2 <<'PY' 2>/dev/null
import socket, sys
from pulumi.automation import PulumiCommand
from semver import VersionInfo
socket.setdefaulttimeout(10)
PulumiCommand.install(root=sys.argv[1], version=VersionInfo.parse(sys.argv[2]))
PY
then
  log "installed v$VERSION with PulumiCommand.install()"
  echo "$ROOT"
  exit 0
fi
log "PulumiCommand.install() is not possible here (no internet or no pulumi SDK)"

command -v go >/dev/null 2>&1 || { log "no pulumi CLI, no internet and no Go toolchain: install Go or a pulumi CLI"; exit 1; }
log "building v$VERSION from Go modules (first run takes several minutes; cached afterwards)"
work="$PULUMI_HOME/build/$VERSION"
mkdir -p "$work" "$ROOT/bin"
cat > "$work/go.mod" <<MOD
module ec2compliance/pulumi-cli

go 1.24

require (
	github.com/pulumi/pulumi/pkg/v3 v$VERSION
	github.com/pulumi/pulumi/sdk/v3 v$VERSION
)
MOD
cat > "$work/tools.go" <<'SRC'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
SRC
(
  cd "$work"
  GOFLAGS=-mod=mod go mod tidy >&2
  go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$VERSION" \
    -o "$TARGET.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
)
mv "$TARGET.tmp" "$TARGET"
log "built $TARGET ($("$TARGET" version))"
echo "$ROOT"
