"""The Content-Security-Policy every response carries (Django's ContentSecurityPolicyMiddleware sends it).

Everything comes from our own origin: no CDN, no inline <script>, no inline event handlers, no style=""
attributes (the templates use classes from static/css/vigia.css, and htmx is told not to inject its own
<style> nor to eval; see the htmx-config meta tag in templates/base.html). The Django admin works under
the same policy, so there is no per-path relaxation. Imported by settings: it must not touch them.
"""

from django.utils.csp import CSP


def content_security_policy() -> dict[str, list[str]]:
    return {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF],
        "style-src": [CSP.SELF],
        "img-src": [CSP.SELF, "data:"],  # the admin's and browsers' small data: icons
        "connect-src": [CSP.SELF],  # htmx requests
        "frame-ancestors": [CSP.NONE],  # never framed (X-Frame-Options: DENY says the same to old browsers)
        "form-action": [CSP.SELF],
        "base-uri": [CSP.NONE],
        "object-src": [CSP.NONE],
    }
