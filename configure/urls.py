from django.urls import URLPattern, URLResolver, path

from configure import views

app_name = "configure"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
]

# Sales settings (issue 17 item 2): SLA policies, calendars, assignment, reasons, frameworks,
# availability, users and teams.
from configure.sales_urls import urlpatterns as _sales_urlpatterns  # noqa: E402

urlpatterns += _sales_urlpatterns
