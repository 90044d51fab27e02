"""URLs of the sales Settings pages: four per configuration kind, then users."""

from django.urls import URLPattern, path

from configure import sales_views as v
from configure.sales_registry import KINDS

urlpatterns: list[URLPattern] = []
for _kind in KINDS.values():
    _name, _kw = _kind.url_name, {"kind_name": _kind.url_name}
    urlpatterns += [
        path(f"{_kind.path}/", v.config_list, _kw, name=_name),
        path(f"{_kind.path}/new/", v.config_edit, _kw, name=f"{_name}_new"),
        path(f"{_kind.path}/<int:pk>/", v.config_edit, _kw, name=f"{_name}_edit"),
        path(f"{_kind.path}/<int:pk>/delete/", v.config_delete, _kw, name=f"{_name}_delete"),
        path(
            f"{_kind.path}/<int:pk>/deactivate/",
            v.config_deactivate,
            _kw,
            name=f"{_name}_deactivate",
        ),
    ]
urlpatterns += [
    path("users/", v.users, name="users"),
    path("users/new/", v.user_new, name="user_new"),
    path("users/<int:pk>/", v.user_edit, name="user_edit"),
    path("users/<int:pk>/active/", v.user_set_active, name="user_set_active"),
    path("users/<int:pk>/unlock/", v.user_unlock, name="user_unlock"),
]
