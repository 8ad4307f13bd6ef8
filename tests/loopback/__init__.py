"""Loopback stand-ins for what Vigia talks to, served on 127.0.0.1 by real HTTP servers: a generic server with
canned answers and a request log (server.py, for webhooks and third-party sites), an organizer's task page
(organizer.py), one behind a login (login_site.py), DJEN's Comunica API (djen.py) and Wuzapi (wuzapi.py); and
the demo organizer site `make up` runs as a process of its own (demo_site.py). Tests, benchmarks and the demo
use them; no production module imports them."""
