# The two commands of the README. Everything else is plain `python manage.py ...` inside .venv.
.PHONY: up test fast lint messages

# Tests run in parallel (pytest-xdist), two workers per core: most of the slow tests wait on real processes.
TEST_WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))

up:
	@deploy/bootstrap.sh
	DEBUG=$${DEBUG:-1} .venv/bin/python manage.py up

test:
	@deploy/bootstrap.sh
	@deploy/browser.sh
	.venv/bin/python -m pytest -n $(TEST_WORKERS) $(ARGS)

# The fast tier: everything but real processes and the browser, for the edit-test loop (about 2 minutes).
fast:
	@deploy/bootstrap.sh
	.venv/bin/python -m pytest -n $(TEST_WORKERS) -m "not process and not browser" $(ARGS)

lint:
	@deploy/bootstrap.sh
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# Refresh the pt-BR catalog from the code, then translate the new entries in locale/pt_BR/LC_MESSAGES/django.po.
messages:
	SECRET_KEY=messages .venv/bin/python manage.py makemessages -l pt_BR --no-obsolete --no-location -i .venv -i data -i tests -i deploy
	SECRET_KEY=messages .venv/bin/python manage.py compilemessages -l pt_BR -i .venv
