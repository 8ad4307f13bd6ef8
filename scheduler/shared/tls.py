"""The one TLS context for outbound HTTPS (job kinds, fetches, channel kinds).

Loading certifi's CA bundle (httpx's own default) takes ~20 ms; building the context once per process keeps
that off every request's path.
"""

import functools
import ssl

import certifi


@functools.cache
def context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())
