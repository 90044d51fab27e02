from django.urls import URLPattern, URLResolver

app_name = "leads"
urlpatterns: list[URLPattern | URLResolver] = []
