"""Issue 17, as a newcomer sees it: after the README's `make up` (here `manage.py up` on free ports), the demo
organizer site's first task shows up on the Items page within 90 s, with its outbox delivery and the source's
run history, in a real browser logged in with the admin password `up` generated."""

import re
import socket
import time

import httpx
import pytest

from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SOURCE = "Demo: tarefas da gincana de exemplo"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url):
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_after_up_the_demo_sources_first_item_appears_within_90_seconds(processes, chromium, tmp_path):
    started = time.monotonic()
    base = f"http://127.0.0.1:{free_port()}"
    # Nothing of loopback allowed beforehand, as on a fresh clone: `up` lets its demo through, and only it.
    processes.start(
        "up", "up", "--addr", base.removeprefix("http://"), VIGIA_DATA_DIR=tmp_path, VIGIA_OUTBOUND_ALLOW=""
    )
    wait_for(lambda: answers(f"{base}/accounts/login/"), 60, message="the web server")
    password = (tmp_path / "admin_password").read_text().strip()

    context = chromium.new_context(locale="en-US", timezone_id="America/Sao_Paulo")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", password)
        page.click("button.primary")
        page.wait_for_url(f"{base}/")

        # The Items page, as a newcomer reloads it: the demo source's first task, within 90 s of `up`.
        row = page.locator("tr", has_text=SOURCE).filter(has=page.locator("a.item-title", has_text="Tarefa das"))
        while True:
            page.goto(f"{base}/items/")
            if row.count():
                break
            assert time.monotonic() - started < 90, "no demo item on the Items page 90 s after `up`"
            page.wait_for_timeout(2000)
        title = row.first.locator("a.item-title").inner_text()
        assert re.fullmatch(r"Tarefa das \d\dh\d\d: .+", title)

        # Its delivery: the demo outbox hears of every new item.
        delivery = page.locator("#delivery-rows tr", has_text="Demo: outbox").filter(has_text="item.new")
        page.goto(f"{base}/deliveries/")
        delivery.first.wait_for()

        # The source's run history: its checks, from the source's page to the job's full history.
        page.goto(f"{base}/items/")
        row.first.get_by_role("link", name=SOURCE).click()
        page.wait_for_url(re.compile(r"/sources/\d+/$"))
        assert page.locator("h1").inner_text() == SOURCE
        assert page.locator("tbody tr", has=page.locator("span.badge.succeeded")).count() >= 1
        page.locator("#source-schedule a").click()
        page.get_by_role("link", name="All runs").click()
        page.wait_for_url(re.compile(r"/runs/\?job=\d+$"))
        runs = page.locator("#run-rows tbody tr", has_text=SOURCE)
        assert runs.filter(has=page.locator("span.badge.succeeded")).count() >= 1
        assert runs.count() == page.locator("#run-rows tbody tr").count()  # this source's runs only
    finally:
        context.close()
