"""Messages the engine records for good, in English (a run's error, a skipped occurrence's reason, a source's or a
person's last error, why a job was paused), shown in the reader's language.

The stored text stays English (logs, the API, callbacks and alerts read the same words whatever the page's
language): each such message is declared once with `message(gettext_noop("… %(name)s …"))`, which returns it
unchanged for the code that records it (`CANCELLED % {...}`), and `translated(text)` (the `recorded` template
filter) reads a stored text back in the active language: its message's translation, with the values it carried
(themselves read back the same way, so a reason that quotes another message is translated whole). A text no
message matches (an upstream's answer, an exception of a kind's own) is shown as it was stored.

A `Catalog` of its own keeps other stored English apart, such as the names the apps give the jobs they make
(scheduler.system_jobs), so that an operator's own job name is never read as an error message.
"""

import re
from functools import cached_property

from django.utils.translation import gettext

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


class Catalog:
    def __init__(self) -> None:
        self._messages: list[str] = []

    def message(self, english: str) -> str:
        """Declare `english` (a gettext_noop'd msgid, its varying parts as %(name)s); returned unchanged."""
        if english not in self._messages:
            self._messages.append(english)
            self.__dict__.pop("patterns", None)
        return english

    @cached_property
    def patterns(self) -> list[tuple[re.Pattern[str], str]]:
        compiled = []
        for english in self._messages:
            parts, last = [], 0
            for found in PLACEHOLDER.finditer(english):
                parts.append(re.escape(english[last : found.start()]))
                parts.append(f"(?P<{found.group(1)}>.+?)")
                last = found.end()
            parts.append(re.escape(english[last:]))
            compiled.append((re.compile("".join(parts), re.S), english))
        # The longest messages first: "missed beyond the grace window" before "missed".
        return sorted(compiled, key=lambda pair: -len(pair[1]))

    def translated(self, text: str, depth: int = 0) -> str:
        """`text` (as stored) in the active language when it is a declared message; otherwise unchanged."""
        if not text or depth > 3:
            return text
        for pattern, english in self.patterns:
            found = pattern.fullmatch(text)
            if found:
                values = {name: self.translated(value, depth + 1) for name, value in found.groupdict().items()}
                return gettext(english) % values
        return text


ENGINE = Catalog()  # what runs, sources, people and jobs record
message, translated = ENGINE.message, ENGINE.translated
