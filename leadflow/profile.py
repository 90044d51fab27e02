"""Your profile: the language and time zone LeadFlow uses for you (leadflow.i18n has the rule)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leadflow import i18n
from leadflow.api.auth import request_user
from leadflow.models import User


def _zone_choices() -> list[tuple[str, str]]:
    blank = _("Site time zone (%(zone)s)") % {"zone": settings.TIME_ZONE}
    return [("", blank), *i18n.time_zone_choices()]


class ProfileForm(forms.ModelForm):  # type: ignore[type-arg]
    # each language named in itself, so a person who cannot read the current one finds theirs
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=settings.LANGUAGES)
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Time zone"),
        required=False,
        choices=_zone_choices,
        help_text=gettext_lazy("Dates and times are shown in this zone. Blank: the site's zone."),
    )

    class Meta:
        model = User
        fields = ("language", "time_zone")


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    form = ProfileForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        form.save()
        # the confirmation is already in the language just chosen
        translation.activate(i18n.user_language(user))
        messages.success(request, _("Your language and time zone are saved."))
        return redirect("profile")
    status = 422 if request.method == "POST" else 200
    return render(request, "profile.html", {"form": form}, status=status)
