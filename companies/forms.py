"""The account pages' forms: they check the input's shape; the services decide what is allowed
(a free-mail domain, a parent circle, an owner who is no sales rep) and name the field."""

from typing import Any

from django import forms
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from companies.models import Account, BuyingRole, Tier
from leads.models import CompanySize, Team
from leads.selectors import assignable_users


class AccountForm(forms.Form):
    """New and edit account. ``domains`` is one textarea, a domain per line, the first the
    primary; ``parent`` takes the parent account's exact name or its id."""

    name = forms.CharField(label=_("Name"), max_length=200)
    domains = forms.CharField(
        label=_("Domains"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text=_(
            "One web domain per line, such as example.com; the first is the primary one. People "
            "whose e-mail address ends in one of them join the account."
        ),
    )
    tier = forms.ChoiceField(
        # Translators: an account's target tier (account-based marketing: 1, 2, 3)
        label=_("Tier"),
        # Translators: an account's target tier: none chosen
        choices=[("", _("No tier")), *Tier.choices],
        required=False,
    )
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        queryset=assignable_users(),
        required=False,
        empty_label=_("Nobody"),
        help_text=_("A sales rep or manager; new leads of the account go to them."),
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.order_by("name"), required=False, empty_label="—"
    )
    industry = forms.CharField(label=_("Industry"), max_length=100, required=False)
    size_band = forms.ChoiceField(
        label=_("Size band"), choices=[("", "—"), *CompanySize.choices], required=False
    )
    country = forms.CharField(
        label=_("Country"),
        max_length=2,
        required=False,
        help_text=_("Two letters (ISO 3166-1), such as DE."),
        widget=forms.TextInput(attrs={"size": 3, "autocomplete": "off"}),
    )
    parent = forms.CharField(
        label=_("Parent account"),
        max_length=200,
        required=False,
        help_text=_("The parent company's account: its exact name or its id. Empty: none."),
    )

    @classmethod
    def initial_of(cls, account: Account) -> dict[str, Any]:
        parent = account.parent
        parent_text = ""
        if parent is not None:  # its name where that names it alone, else its id
            same = Account.objects.annotate(n=Lower("name")).filter(n=parent.name.lower())
            parent_text = parent.name if same.count() == 1 else str(parent.pk)
        return {
            "name": account.name,
            "domains": "\n".join(
                account.domains.order_by("-is_primary", "domain").values_list("domain", flat=True)
            ),
            "tier": account.tier,
            "owner": account.owner_id,
            "team": account.team_id,
            "industry": account.industry,
            "size_band": account.size_band,
            "country": account.country,
            "parent": parent_text,
        }

    def clean_domains(self) -> list[str]:
        text: str = self.cleaned_data.get("domains") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def clean_parent(self) -> int | None:
        text = (self.cleaned_data.get("parent") or "").strip()
        if not text:
            return None
        digits = text.removeprefix("#")
        if digits.isdigit():
            return int(digits)  # the service says when no account has it
        found = list(
            Account.objects.annotate(n=Lower("name"))
            .filter(n=text.lower())
            .values_list("pk", flat=True)[:2]
        )
        if not found:
            raise forms.ValidationError(_("No account is named “%(name)s”.") % {"name": text})
        if len(found) > 1:
            raise forms.ValidationError(
                _("Several accounts are named “%(name)s”: give the parent's id instead.")
                % {"name": text}
            )
        return found[0]

    def data_for_service(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "domains": d["domains"],
            "tier": d["tier"],
            "owner": d["owner"].pk if d["owner"] is not None else None,
            "team": d["team"].pk if d["team"] is not None else None,
            "industry": d["industry"],
            "size_band": d["size_band"],
            "country": d["country"],
            "parent": d["parent"],
        }


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Buying role"), choices=BuyingRole.choices)


class AddMemberForm(forms.Form):
    email = forms.EmailField(label=_("Lead's e-mail address"), max_length=254)


class MergeForm(forms.Form):
    duplicate = forms.IntegerField(label=_("Duplicate account"), min_value=1)
    keep_owner_of = forms.IntegerField(label=_("Keep the owner of"), min_value=1)


class LeadAccountForm(forms.Form):
    """The lead page's account panel: ``link`` to ``account``, or ``none`` (no account)."""

    action = forms.ChoiceField(choices=[("link", "link"), ("none", "none")])
    account = forms.IntegerField(label=_("Account"), min_value=1, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "link" and not data.get("account"):
            self.add_error("account", _("Choose the account to link."))
        return data
