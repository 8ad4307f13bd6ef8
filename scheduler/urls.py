"""The scheduler's dashboard pages; each views module lists its own `urls`."""

from scheduler import views_jobs, views_queue, views_runs

app_name = "scheduler"
urlpatterns = views_queue.urls + views_jobs.urls + views_runs.urls
