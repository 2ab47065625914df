# provision: `make demo` shows it working, `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the lab's machinery; tinyproxy for the proxy tests; vagrant to validate the Vagrantfile
LAB_PACKAGES := systemd-container debootstrap iptables iproute2 apt-utils gnupg openssh-client \
	tinyproxy vagrant

.PHONY: demo test unit lint lab-deps venv lab-down bench clean

demo: venv lab-deps
	$(BIN)/provision demo

test: venv lab-deps
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest -m "not lab"

lint: venv
	$(BIN)/ruff check provision lab tests deploys inventories bench
	$(BIN)/ruff format --check provision lab tests deploys inventories bench

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml lab/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./lab -e '.[dev]'
	touch $@

# Debian packages the lab needs (as root); a no-op when they are installed.
lab-deps:
	@dpkg -s $(LAB_PACKAGES) >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] || { echo "lab-deps: run as root to install $(LAB_PACKAGES)"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(LAB_PACKAGES); }

lab-down: venv
	$(BIN)/provision lab down

bench: venv lab-deps
	$(BIN)/python bench/run.py

clean: lab-down
	rm -rf $(VENV) .lab
