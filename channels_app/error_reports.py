"""Django's error reports (500 e-mails to ADMINS, the DEBUG page) without secrets.

Django already hides settings and request headers named like KEY/TOKEN/SECRET/PASS (so VIGIA_ENCRYPTION_KEYS
and SECRET_KEY show as stars), but shows every POST field and local variable unless a view or function is
decorated. This filter also hides, by name, POST fields (the channel form's `secrets`) and local variables
(`secrets`, `token`, `headers`, `url`…) wherever an exception passes, decorated or not. Values read from
Channel.secrets, Source.headers and Job.secrets carry a masked repr as well (scheduler.shared.fields), whatever
their variable's name.

Unlike Django's default, the filter stays on with DEBUG: a debug page left on in production (or shown on a
screen share) must not show a token either.
"""

import re
from types import FrameType
from typing import Any

from django.http import HttpRequest, QueryDict
from django.views.debug import SafeExceptionReporterFilter

SECRET_NAMES = re.compile(r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|AUTH|COOKIE|HEADER|URL", flags=re.IGNORECASE)


class SecretsReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def _cleanse_by_name(self, request: HttpRequest, multivaluedict: QueryDict) -> QueryDict:
        marked = getattr(request, "sensitive_post_parameters", None) or []
        if marked == "__ALL__":
            names = list(multivaluedict)
        else:
            names = [*marked, *(key for key in multivaluedict if SECRET_NAMES.search(key))]
        cleansed = multivaluedict.copy()
        for name in names:
            if name in cleansed:
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_post_parameters(self, request: HttpRequest | None) -> dict[str, Any]:
        if request is None:
            return {}
        return self._cleanse_by_name(request, request.POST)

    def get_cleansed_multivaluedict(self, request: HttpRequest, multivaluedict: QueryDict) -> QueryDict:
        return self._cleanse_by_name(request, multivaluedict)

    # A list of pairs where the stub says ItemsView: Django only iterates it (dictsort in the template).
    def get_traceback_frame_variables(  # type: ignore[override]
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> list[tuple[str, Any]]:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleansed_substitute if SECRET_NAMES.search(name) else value) for name, value in variables]
