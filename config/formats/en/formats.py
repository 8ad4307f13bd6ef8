# 24-hour, year first: what operators of a scheduler read without ambiguity (Django's "m/d/Y P" is not).
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
