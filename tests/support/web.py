"""Logged-in Django test clients for the dashboard's view tests: an operator who may change things
(staff) and one who may only look. Each is its own Client, so a test can use both."""

import pytest
from django.test import Client


def _logged_in(user):
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def staff_client(db, django_user_model):
    return _logged_in(django_user_model.objects.create_user("staff", password="x", is_staff=True))


@pytest.fixture
def viewer_client(db, django_user_model):
    return _logged_in(django_user_model.objects.create_user("viewer", password="x"))
