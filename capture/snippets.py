"""The three copy-paste embeds of a form (the Embed tab): script tag, iframe, plain HTML form.

Pure functions of the form, its fields and current consents and LeadFlow's origin. Every value
put in an attribute or text is HTML-escaped here, as the host page will paste the snippet as
HTML; the page shows the snippet text escaped once more (inside <pre><code>).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from django.utils.translation import gettext as _

from capture.models import ConsentText, FieldKind, Form, FormField, HiddenSource

HONEYPOT = "lf_website"


@dataclass(frozen=True)
class Snippets:
    script: str
    iframe: str
    html: str


def _a(value: object) -> str:
    return escape(str(value), quote=True)


def script_snippet(*, form: Form, origin: str) -> str:
    target = f"leadflow-form-{form.public_id}"
    return (
        f'<div id="{_a(target)}"></div>\n'
        f'<script src="{_a(origin)}/f/embed.js" data-form="{_a(form.public_id)}" '
        f'data-target="#{_a(target)}" async></script>'
    )


def iframe_snippet(*, form: Form, origin: str) -> str:
    return (
        f'<iframe src="{_a(origin)}/f/{_a(form.public_id)}/frame" title="{_a(form.name)}"\n'
        '        width="100%" height="640" loading="lazy"></iframe>'
    )


def _input(field: FormField) -> list[str]:
    name, ident = _a(field.trait), _a(f"lf-{field.trait}")
    req = " required" if field.required else ""
    label = f'  <label for="{ident}">{escape(field.label)}</label>'
    if field.kind == FieldKind.HIDDEN:
        value = field.fixed_value if field.hidden_source == HiddenSource.FIXED else ""
        note = (
            ""
            if field.hidden_source == HiddenSource.FIXED
            else "  <!-- "
            + _("%(source)s: filled in by the script embed only") % {"source": field.hidden_source}
            + " -->\n"
        )
        return [f'{note}  <input type="hidden" name="{name}" value="{_a(value)}">']
    if field.kind == FieldKind.TEXTAREA:
        return [label, f'  <textarea id="{ident}" name="{name}"{req}></textarea>']
    if field.kind == FieldKind.SELECT:
        options = "".join(
            f'\n    <option value="{_a(c)}">{escape(c)}</option>' for c in field.choice_list()
        )
        return [
            label,
            f'  <select id="{ident}" name="{name}"{req}>\n    <option value=""></option>'
            f"{options}\n  </select>",
        ]
    if field.kind == FieldKind.CHECKBOX:
        return [
            f'  <label><input type="checkbox" name="{name}" value="on"{req}> '
            f"{escape(field.label)}</label>"
        ]
    kind = {"email": "email", "tel": "tel"}.get(field.kind, "text")
    return [label, f'  <input id="{ident}" type="{kind}" name="{name}"{req}>']


def html_snippet(
    *, form: Form, origin: str, fields: Iterable[FormField], consents: Iterable[ConsentText]
) -> str:
    submit = form.submit_label or _("Send")
    lines = [
        f'<form method="post" action="{_a(origin)}/f/{_a(form.public_id)}/submit" '
        'accept-charset="utf-8">'
    ]
    for field in fields:
        lines += _input(field)
    for consent in consents:
        req = " required" if consent.required else ""
        lines.append(
            f'  <label><input type="checkbox" name="consent.{_a(consent.key)}" '
            f'value="{consent.version}"{req}> {escape(consent.text)}</label>'
        )
    lines += [
        "  <!-- " + _("leave empty: a trap for spam bots") + " -->",
        '  <div aria-hidden="true" style="position:absolute;left:-10000px">',
        f'    <input type="text" name="{HONEYPOT}" tabindex="-1" autocomplete="off">',
        "  </div>",
        f'  <button type="submit">{escape(submit)}</button>',
        "</form>",
    ]
    return "\n".join(lines)


def form_snippets(
    *, form: Form, origin: str, fields: Iterable[FormField], consents: Iterable[ConsentText]
) -> Snippets:
    origin = origin.rstrip("/")
    return Snippets(
        script=script_snippet(form=form, origin=origin),
        iframe=iframe_snippet(form=form, origin=origin),
        html=html_snippet(form=form, origin=origin, fields=fields, consents=consents),
    )
