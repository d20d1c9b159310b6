#!/usr/bin/env bash
# Installs every system package rflow needs to build, test and benchmark (Debian 12, apt).
# Idempotent: packages already present are not reinstalled and apt's lists are refreshed only
# when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp         # without OpenBLAS LibTorch uses the reference BLAS (~60x slower)
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libstb-dev zlib1g-dev
  libsentencepiece-dev                     # subword tokenizers (rflow/text)
  libcpp-httplib-dev                       # rflow serve (rflow/serve)
  libgloo-dev                              # data-parallel runs: LibTorch's c10d Gloo headers (rflow/dist)
  libsqlite3-dev                           # automatic tuning: studies in SQLite (rflow/automl)
  fortunes-min                             # tests: real short English texts for the tokenizers
  fortunes                                 # Language RF: tens of thousands of fortune cookies (rflow text, configs/text/fortunes.toml)
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy python3-torch      # golden values, the Python baseline benches and python/rflow
  python3-optuna                           # the tuning peer rflow auto is compared with (bench/python/optuna_search.py)
  python3-pip python3-setuptools           # tests install python/rflow the way users do (pip, offline)
  dataset-fashion-mnist
  chromium-headless-shell                  # tests only: renders each report, checks the console, screenshots
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's libtorch links libblas.so.3 through update-alternatives; make sure the OpenMP
# OpenBLAS build is the one selected (the reference BLAS is the fallback otherwise).
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for lib in libblas.so.3 liblapack.so.3; do
  cand=/usr/lib/$arch/openblas-openmp/$lib
  if [ -e "$cand" ] && command -v update-alternatives >/dev/null; then
    cur=$(update-alternatives --query "$lib-$arch" 2>/dev/null | awk '/^Value:/{print $2}')
    if [ "$cur" != "$cand" ]; then
      SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
      $SUDO update-alternatives --set "$lib-$arch" "$cand" >/dev/null 2>&1 || true
    fi
  fi
done
echo "setup: ok"
