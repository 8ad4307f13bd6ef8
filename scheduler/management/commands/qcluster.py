"""`manage.py qcluster`: django-q2's own command, without the system checks at start.

The checks (run by the web server and by `manage.py check` in CI) would load the URL configuration, the API
and its schemas, and every view into the cluster's main process, and so into every worker it forks: memory
that a worker never uses. This app comes before django_q in INSTALLED_APPS, so this command is the one run.
"""

from django_q.management.commands.qcluster import Command as QclusterCommand


class Command(QclusterCommand):
    requires_system_checks: list[str] = []
