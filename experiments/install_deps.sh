#!/usr/bin/env bash
# Installs what the sandbox needs on a Debian or Ubuntu machine, and only what is missing.
# Usage: experiments/install_deps.sh [SET...]   (default: all)
#   build:    compiler, CMake, Eigen, HDF5 (C++), Boost.program_options, GoogleTest
#   plots:    Python 3 with h5py, numpy, matplotlib and pandas (Debian's packages, seen by /usr/bin/python3)
#   text:     fortunes, Debian's package of English fortune-cookie texts (BSD licence): the default corpus of the
#             language model (`sandbox train --model lm`, models/README.md)
#   all:      build, plots and text, everything the sandbox and the study (experiments/reproduce.sh) need
#   scaleout: GNU parallel, Slurm (slurmctld, slurmd, slurm-client) and MUNGE, the tools the recipes in
#             experiments/scaleout/ are written for; only their tests (tests/experiments/cli/scaleout_*.sh) use them, so
#             tests/run.sh installs this set besides `all`. No Slurm daemon starts on installing (Debian's
#             scripts start none without /etc/slurm/slurm.conf); the munge package may start the system's
#             munged, which the tests do not use (they start their own).
set -euo pipefail

build_packages=(g++ cmake make libeigen3-dev libhdf5-dev libboost-program-options-dev libgtest-dev)
python_packages=(python3 python3-h5py python3-numpy python3-matplotlib python3-pandas)
text_packages=(fortunes)
scaleout_packages=(parallel slurmctld slurmd slurm-client munge)
wanted=()
for what in "${@:-all}"; do
  case "$what" in
    build) wanted+=("${build_packages[@]}") ;;
    plots) wanted+=("${python_packages[@]}") ;;
    text) wanted+=("${text_packages[@]}") ;;
    all) wanted+=("${build_packages[@]}" "${python_packages[@]}" "${text_packages[@]}") ;;
    scaleout) wanted+=("${scaleout_packages[@]}") ;;
    *) echo "install_deps.sh: unknown set '$what' (build, plots, text, all or scaleout)" >&2; exit 2 ;;
  esac
done

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
((${#missing[@]} == 0)) && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_deps.sh: missing packages ${missing[*]} and no apt-get to install them (Debian or Ubuntu needed)" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install_deps.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "==> installing ${missing[*]}"
# What each package is for, before anything is installed.
for package in "${missing[@]}"; do
  case " ${build_packages[*]} " in *" $package "*) why="to build the sandbox and its tests" ;; *)
  case " ${python_packages[*]} " in *" $package "*) why="for the Python reader, the figures and the summary" ;; *)
  case " ${text_packages[*]} " in *" $package "*) why="the language model's default text corpus (BSD licence)" ;; *)
  why="for the scale-out recipes' tests only (GNU parallel, Slurm, MUNGE; the tests start their own daemons)" ;; esac ;; esac ;; esac
  printf '    %-30s %s\n' "$package" "$why"
done
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
