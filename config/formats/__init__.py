"""One date format per locale, everywhere (FORMAT_MODULE_PATH): templates use the named formats
(SHORT_DATETIME_FORMAT, DATETIME_FORMAT with seconds, SHORT_DATE_FORMAT), never a literal pattern, so a
page, the admin and a message show 07/12/2026 14:05 to a Brazilian reader and 2026-12-07 14:05 to an English
one. Only what differs from Django's own locale modules is set here."""
