"""Logged-in Django test clients for the dashboard's view tests, one per role (scheduler.shared.roles): an
admin who may change everything (`staff_client`, staff in the admin group), an operator who runs and edits the
work but not channels, tokens or users, and a viewer who may only look. Each is its own Client, so a test can
use several."""

import pytest
from django.test import Client

from scheduler.shared import roles


def _logged_in(user):
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def user_with_role(django_user_model, username, role):
    user = django_user_model.objects.create_user(username, password="x")
    roles.set_role(user, role)
    return user


@pytest.fixture
def staff_client(db, django_user_model):
    return _logged_in(user_with_role(django_user_model, "staff", roles.ADMIN))


@pytest.fixture
def operator_client(db, django_user_model):
    return _logged_in(user_with_role(django_user_model, "operator-user", roles.OPERATOR))


@pytest.fixture
def viewer_client(db, django_user_model):
    return _logged_in(user_with_role(django_user_model, "viewer", roles.VIEWER))
