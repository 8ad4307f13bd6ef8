# The two commands of the README. Everything else is plain `python manage.py ...` inside .venv.
.PHONY: up test fast lint messages

# Tests run in parallel (pytest-xdist), two workers per core: most of the slow tests wait on real processes.
# Tests are handed out two at a time, longest first (tests/conftest.py), so the workers end together.
TEST_WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))

up:
	@deploy/bootstrap.sh
	DEBUG=$${DEBUG:-1} .venv/bin/python manage.py up

# Two runs: everything in parallel, then, alone, the few tests that time sub-second spacing or restart
# PostgreSQL under everyone's feet (exit code 5 is "nothing selected", when ARGS names none of them).
test:
	@deploy/bootstrap.sh
	@deploy/browser.sh
	.venv/bin/python -m pytest -n $(TEST_WORKERS) --maxschedchunk 2 -m "not alone" $(ARGS)
	.venv/bin/python -m pytest -m alone $(ARGS) || [ $$? -eq 5 ]

# The fast tier: everything but real processes and the browser, for the edit-test loop (about 3 minutes on 2 cores).
fast:
	@deploy/bootstrap.sh
	.venv/bin/python -m pytest -n $(TEST_WORKERS) --maxschedchunk 2 -m "not process and not browser and not alone" $(ARGS)
	.venv/bin/python -m pytest -m "alone and not process and not browser" $(ARGS) || [ $$? -eq 5 ]

lint:
	@deploy/bootstrap.sh
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# Refresh the pt-BR catalog from the code, then translate the new entries in locale/pt_BR/LC_MESSAGES/django.po.
messages:
	SECRET_KEY=messages .venv/bin/python manage.py makemessages -l pt_BR --no-obsolete --no-location -i .venv -i data -i tests -i deploy
	SECRET_KEY=messages .venv/bin/python manage.py compilemessages -l pt_BR -i .venv
