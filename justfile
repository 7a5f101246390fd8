# One recipe per habit. Every recipe that needs the virtual environment runs `setup` first,
# so any of them works on a fresh clone.

set shell := ["bash", "-euo", "pipefail", "-c"]

python := env("PYTHON", "python3")
venv := ".venv"
bin := venv / "bin"

# list the recipes
default:
    @just --list

# create .venv and install plexsync with its dev and plot extras (quick when nothing changed)
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x {{bin}}/python ]; then
        {{python}} -m venv {{venv}}
    fi
    stamp={{venv}}/.installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        {{bin}}/python -m pip install --quiet --disable-pip-version-check -e '.[dev,plot]'
        touch "$stamp"
    fi

# the worker against a misbehaving fake Plex, then a simulated 6-hour outage with its plot
demo: setup
    {{bin}}/python -m tests.demo

# the benchmarks, beside persist-queue, huey and raw SQLite (a few minutes; --quick: a smoke run; --stash-plugin: the Stash plugin's)
bench *args: setup
    {{bin}}/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
    {{bin}}/python -m tests.benchmarks {{args}}

# every check: lint, types, the import contract, unit tests with the coverage gate, properties
test: lint typecheck contract cov prop

# mutation testing of core/ (minutes, so not in `test`); fails on a survivor not in tests/mutation/equivalent.toml
mutate: setup
    {{bin}}/python -m pip install --quiet --disable-pip-version-check -e '.[mutate]'
    rm -rf mutants
    HYPOTHESIS_PROFILE=mutate {{bin}}/mutmut run --max-children 2
    {{bin}}/python -m tests.mutation.check

# mutation testing of the shell's claim, decision writing, coalescing, retention, reaping and classifier (reported, not gated)
mutate-shell: setup
    {{bin}}/python -m pip install --quiet --disable-pip-version-check -e '.[mutate]'
    {{bin}}/python -m tests.mutation.shell

# ruff: lint rules and formatting
lint: setup
    {{bin}}/ruff check .
    {{bin}}/ruff format --check .

# mypy --strict on core and shell
typecheck: setup
    {{bin}}/mypy

# core/ must stay pure (no clock, randomness, I/O, logging, environment or shell); the CLI is layered
contract: setup
    {{bin}}/lint-imports

# unit and integration tests, with 100 % branch coverage of core/ enforced
cov: setup
    {{bin}}/coverage erase
    {{bin}}/coverage run -m pytest -q tests
    {{bin}}/coverage combine --quiet
    {{bin}}/coverage report --include='core/*' --fail-under=100
    {{bin}}/coverage report --fail-under=90

# the long soak: 100,000 jobs over 72 simulated hours with every fault, clock jumps and (as root) a full disk; prints the figures (a few minutes; --jobs, --hours, --seed)
soak *args: setup
    #!/usr/bin/env bash
    set -euo pipefail
    disk=$(mktemp -d)
    if mount -t tmpfs -o size=512m,mode=0700 plexsync-soak "$disk" 2>/dev/null; then
        trap 'umount "$disk" 2>/dev/null || umount --lazy "$disk"; rmdir "$disk"' EXIT
        {{bin}}/python -m shell.soak --full-disk-at "$disk" {{args}}
    else
        rmdir "$disk"
        echo "soak: no full-disk moments: mounting a small tmpfs needs root (CAP_SYS_ADMIN)" >&2
        {{bin}}/python -m shell.soak {{args}}
    fi

# unit and integration tests only, without coverage (pass pytest options: just unit -k breaker)
unit *args: setup
    {{bin}}/python -m pytest -q tests {{args}}

# Hypothesis property tests (HYPOTHESIS_PROFILE=thorough for a long run; CI picks `ci` itself)
prop *args: setup
    {{bin}}/python -m pytest -q property_tests {{args}}

# apply ruff's fixes and formatting
fmt: setup
    {{bin}}/ruff check --fix .
    {{bin}}/ruff format .
