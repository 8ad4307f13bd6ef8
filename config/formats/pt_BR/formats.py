# Django's pt_BR long DATETIME_FORMAT ("7 de dezembro de 2026 às 14:05") is too long for tables: the seconds
# variant of the short one is used where a moment must be exact (a run's attempts).
DATETIME_FORMAT = "d/m/Y H:i:s"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
SHORT_DATE_FORMAT = "d/m/Y"
TIME_FORMAT = "H:i"
