#!/usr/bin/env bash
# Installs the real software the stack tests run against, into .cache/test-deps:
#   victoria-metrics  (OTLP ingest + PromQL engine for the dashboard/alert queries)
#   promtool          (check config, check rules, test rules)
#   prometheus        (3.x: the real OTLP receiver, naming and rule engine the stack runs)
#   docker-compose    (v2: `config` validates the compose file without a daemon)
# Debian bookworm's versions are too old (VictoriaMetrics 1.79 has no OTLP;
# promtool 2.42, and trixie's 2.53, reject the Prometheus 3 `otlp:` config
# block), so the .debs come from trixie, and Prometheus 3.x from sid, through a
# private apt state: the system's sources, lists and dpkg database are never
# touched. All are static Go binaries needing only libc6 >= 2.34.
# Idempotent: a tool already unpacked is skipped, so `npm test` (whose pretest
# step runs this) costs next to nothing once .cache/test-deps is filled.
# Any failure ends with one line naming the tool and how to get it.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/test-deps"
apt_dir="$cache/apt"
unpacked="$cache/root"
bin="$cache/bin"
mirror="${RETRYSCOPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

step() { printf '[install-test-deps] %s\n' "$*"; }
# One line on stderr naming what is missing and how to get it, then exit 1.
fail() {
  printf '[install-test-deps] ERROR: %s\n' "$*" >&2
  exit 1
}

# package  suite  path-inside-the-deb  name-in-bin
tools=(
  "victoria-metrics trixie usr/bin/victoria-metrics victoria-metrics"
  "promtool sid usr/bin/promtool promtool"
  "prometheus sid usr/bin/prometheus prometheus"
  "docker-compose trixie usr/libexec/docker/cli-plugins/docker-compose docker-compose"
)

# A cache made from another tool list (e.g. an older promtool) starts over.
spec="$(printf '%s\n' "${tools[@]}")"
if [[ -d "$bin" && "$(cat "$cache/tools.spec" 2>/dev/null)" != "$spec" ]]; then
  step "tool list changed since the last install: reinstalling into $bin"
  rm -rf "$bin" "$unpacked"
fi

missing=()
for t in "${tools[@]}"; do
  read -r pkg suite path name <<<"$t"
  if [[ -x "$bin/$name" ]]; then
    step "$name already installed at $bin/$name"
  else
    missing+=("$t")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  printf '%s\n' "$spec" >"$cache/tools.spec"
  step "nothing to do"
  exit 0
fi

names="$(for t in "${missing[@]}"; do read -r _ _ _ n <<<"$t"; printf '%s ' "$n"; done)"
names="${names% }"
how="put the binaries in $bin, or set RETRYSCOPE_DEBIAN_MIRROR to a reachable Debian mirror"
for cmd in apt-get dpkg; do
  command -v "$cmd" >/dev/null || fail "cannot install $names: $cmd not found (needs Debian or Ubuntu); $how"
done
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r "$keyring" ]] || fail "cannot install $names: $keyring missing (apt-get install debian-archive-keyring); $how"

mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts" "$apt_dir/debs" "$unpacked" "$bin"
for suite in trixie sid; do
  printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite"
done >"$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/parts"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::State::status=/dev/null"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)

step "apt-get update for Debian trixie and sid into $apt_dir (system sources untouched)"
apt-get "${apt_opts[@]}" -qq update || fail "cannot install $names: apt-get update from $mirror failed; $how"

for t in "${missing[@]}"; do
  read -r pkg suite path name <<<"$t"
  step "apt-get download $pkg/$suite"
  rm -f "$apt_dir/debs/${pkg}_"*.deb
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "$pkg/$suite") ||
    fail "cannot install $name: apt-get download $pkg/$suite failed; $how"
  deb="$(ls "$apt_dir/debs/${pkg}_"*.deb)"
  step "dpkg -x $(basename "$deb") into $unpacked"
  dpkg -x "$deb" "$unpacked" || fail "cannot install $name: dpkg -x $(basename "$deb") failed; $how"
  [[ -x "$unpacked/$path" ]] || fail "cannot install $name: package $pkg has no $path; $how"
  ln -sf "$unpacked/$path" "$bin/$name"
  step "linked $bin/$name -> $path"
done
printf '%s\n' "$spec" >"$cache/tools.spec"
step "done: tools in $bin"
