#!/usr/bin/env bash
# Installs the real software the stack tests run against, into .cache/test-deps:
#   victoria-metrics  (OTLP ingest + PromQL engine for the dashboard/alert queries)
#   promtool          (check config, check rules, test rules)
#   docker-compose    (v2: `config` validates the compose file without a daemon)
# Debian bookworm's versions are too old (VictoriaMetrics 1.79 has no OTLP,
# promtool 2.42 rejects the `otlp:` config block), so the .debs come from
# trixie through a private apt state: the system's sources, lists and dpkg
# database are never touched. Idempotent: a tool already unpacked is skipped.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/test-deps"
apt_dir="$cache/apt"
unpacked="$cache/root"
bin="$cache/bin"
suite="${RETRYSCOPE_DEBIAN_SUITE:-trixie}"
mirror="${RETRYSCOPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

step() { printf '[install-test-deps] %s\n' "$*"; }

# package  path-inside-the-deb  name-in-bin
tools=(
  "victoria-metrics usr/bin/victoria-metrics victoria-metrics"
  "promtool usr/bin/promtool promtool"
  "docker-compose usr/libexec/docker/cli-plugins/docker-compose docker-compose"
)

missing=()
for t in "${tools[@]}"; do
  read -r pkg path name <<<"$t"
  if [[ -x "$bin/$name" ]]; then
    step "$name already installed at $bin/$name"
  else
    missing+=("$t")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  step "nothing to do"
  exit 0
fi

mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts" "$apt_dir/debs" "$unpacked" "$bin"
printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$suite" \
  >"$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/parts"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::State::status=/dev/null"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)

step "apt-get update for Debian $suite into $apt_dir (system sources untouched)"
apt-get "${apt_opts[@]}" -qq update

for t in "${missing[@]}"; do
  read -r pkg path name <<<"$t"
  version="$(apt-cache "${apt_opts[@]}" policy "$pkg" | awk '/Candidate:/ {print $2}')"
  step "apt-get download $pkg=$version from $suite"
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "$pkg=$version")
  deb="$(ls -t "$apt_dir/debs/${pkg}_"*.deb | head -n1)"
  step "dpkg -x $(basename "$deb") into $unpacked"
  dpkg -x "$deb" "$unpacked"
  if [[ ! -x "$unpacked/$path" ]]; then
    step "ERROR: $pkg has no $path" >&2
    exit 1
  fi
  ln -sf "$unpacked/$path" "$bin/$name"
  step "linked $bin/$name -> $path"
done
step "done: tools in $bin"
