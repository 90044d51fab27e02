# English as LeadFlow writes it for European teams: day before month, a 24-hour clock, ISO for
# the short forms (Django's "en" defaults are US: "N j, Y", "P", "m/d/Y").
DATE_FORMAT = "d M Y"
DATETIME_FORMAT = "d M Y H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1  # Monday
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
