#!/usr/bin/env bash
# Install the Debian packages steer needs to build, test and run its demo.
# Idempotent: runs apt-get update once, and only when something is missing.
#   scripts/install-deps.sh           the base list
#   scripts/install-deps.sh --bench   the base list plus what `make bench` needs
set -euo pipefail

PKGS=(
  # build
  make gcc clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config
  # run and inspect
  bpftool iproute2 procps util-linux
  # tests (strace: 38_steerd_reload_cost and scripts/bench/mapops.sh count bpf() calls)
  libcmocka-dev perl curl jq bc strace
  # 43_top: steerctl top in a terminal (tmux panes, capture-pane) and the zsh completion
  tmux zsh
  # make fuzz: libFuzzer (clang -fsanitize=fuzzer; only recommended by clang)
  libclang-rt-14-dev
  # steerd: config parsing, metrics endpoint; promtool checks the metrics
  libconfig-dev libmicrohttpd-dev prometheus
  # steerd's fleet (global quotas, shared circuits): hiredis' async API to Redis;
  # tests run their own redis-server (and redis-cli) in a namespace they make
  libhiredis-dev redis-server redis-tools
  # systemd-analyze: security rates scripts/steerd.service (41), verify checks
  # scripts/systemd/* (39); systemd-socket-activate passes sockets as systemd does (39)
  systemd
)

# Benchmarks only: the proxies steer is compared with, the HTTP load tool,
# the plotter for docs/bench/*.png, and perf (linux-perf), which samples
# the JIT'd programs by name (net.core.bpf_jit_kallsyms=1) for
# docs/bench/FASTPATH.md.
BENCH_PKGS=(haproxy nginx libnginx-mod-stream wrk gnuplot-nox linux-perf)

case "${1:-}" in
  "") ;;
  --bench) PKGS+=("${BENCH_PKGS[@]}") ;;
  *) echo "Usage: install-deps.sh [--bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Error: install-deps.sh must run as root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
