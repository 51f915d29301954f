#!/usr/bin/env bash
# Installs the real software the stack tests run against, into .cache/test-deps:
#   victoria-metrics  (OTLP ingest + PromQL engine for the dashboard/alert queries)
#   promtool          (check config, check rules, test rules)
#   prometheus        (3.x: the real OTLP receiver, naming and rule engine the stack runs)
#   docker-compose    (v2: `config` validates the compose file without a daemon)
#   redis-server      (the limiter's shared store; unpacked into $cache/redis)
# Debian bookworm's versions are too old (VictoriaMetrics 1.79 has no OTLP;
# promtool 2.42, and trixie's 2.53, reject the Prometheus 3 `otlp:` config
# block), so the .debs come from trixie, and Prometheus 3.x from sid, through a
# private apt state: the system's sources, lists and dpkg database are never
# touched. The Go tools are static binaries needing only libc6 >= 2.34; redis-server is
# unpacked with the two libraries it links (libjemalloc2, liblzf1).
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

# redis-server: unlike the tools above it is not static. Debian's package links
# libjemalloc2 and liblzf1, so all three are unpacked together from the host's
# own suite (its libc is the one they were built for), through a private apt
# state as above, and run with LD_LIBRARY_PATH (test/helpers/redis-server.ts).
install_redis() {
  local dir="$cache/redis" rapt="$cache/apt-redis" codename
  if [[ -x "$dir/usr/bin/redis-server" ]]; then
    step "redis-server already installed at $dir/usr/bin/redis-server"
    return
  fi
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
  mkdir -p "$rapt/lists/partial" "$rapt/cache/archives/partial" "$rapt/parts" "$rapt/debs" "$dir"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$codename" >"$rapt/sources.list"
  local opts=(
    -o "Dir::Etc::SourceList=$rapt/sources.list" -o "Dir::Etc::SourceParts=$rapt/parts"
    -o "Dir::State::Lists=$rapt/lists" -o "Dir::Cache=$rapt/cache" -o "Dir::State::status=/dev/null"
    -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
  )
  step "apt-get update for Debian $codename into $rapt (for redis-server)"
  apt-get "${opts[@]}" -qq update ||
    fail "redis-server: apt-get update for Debian $codename failed ($mirror); check the mirror (RETRYSCOPE_DEBIAN_MIRROR) or set RETRYSCOPE_REDIS_SERVER to a redis-server binary"
  rm -f "$rapt/debs/"*.deb
  (cd "$rapt/debs" && apt-get "${opts[@]}" -qq download redis-server redis-tools libjemalloc2 liblzf1) ||
    fail "redis-server: apt-get download of redis-server, libjemalloc2, liblzf1 ($codename) failed; set RETRYSCOPE_REDIS_SERVER to a redis-server binary instead"
  for deb in "$rapt/debs/"*.deb; do dpkg -x "$deb" "$dir"; done
  LD_LIBRARY_PATH="$dir/usr/lib/x86_64-linux-gnu" "$dir/usr/bin/redis-server" --version >/dev/null ||
    fail "redis-server: the unpacked binary in $dir does not run; delete $dir and run again, or set RETRYSCOPE_REDIS_SERVER"
  step "redis-server unpacked into $dir"
}
mkdir -p "$cache"
if [[ -n "${RETRYSCOPE_REDIS_SERVER:-}" ]]; then
  step "redis-server from RETRYSCOPE_REDIS_SERVER=$RETRYSCOPE_REDIS_SERVER"
else
  install_redis
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
