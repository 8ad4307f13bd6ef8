# The two commands of the README. Everything else is plain `python manage.py ...` inside .venv.
.PHONY: up test lint

up:
	@deploy/bootstrap.sh
	DEBUG=$${DEBUG:-1} .venv/bin/python manage.py up

test:
	@deploy/bootstrap.sh
	.venv/bin/python -m pytest $(ARGS)

lint:
	@deploy/bootstrap.sh
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
