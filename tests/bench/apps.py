import os

from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmarks' app: its `bench` command, and `bench idle`'s query counter in every process it starts."""

    name = "tests.bench"
    label = "vigia_bench"

    def ready(self):
        if os.environ.get("VIGIA_COUNT_QUERIES_DIR"):  # `bench idle` counts every process's queries
            from tests.bench import querycount

            querycount.install(os.environ["VIGIA_COUNT_QUERIES_DIR"])
