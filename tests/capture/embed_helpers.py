"""Forms for the embed tests (capture-embed's; capture-core may bring factories of its own)."""

from capture.models import ConsentText, FieldKind, Form, FormField, HiddenSource

HOST = "https://www.example.com"


def make_form(*, status: str = Form.Status.LIVE, origins: str = HOST, **kwargs) -> Form:
    form = Form.objects.create(name="Newsletter", status=status, allowed_origins=origins, **kwargs)
    FormField.objects.create(
        form=form, position=1, trait="email", kind=FieldKind.EMAIL, label="E-mail", required=True
    )
    FormField.objects.create(
        form=form,
        position=2,
        trait="firstName",
        kind=FieldKind.TEXT,
        label="First name",
        help_text="As you like to be called",
    )
    FormField.objects.create(
        form=form,
        position=3,
        trait="utm_source",
        kind=FieldKind.HIDDEN,
        label="Source",
        hidden_source=HiddenSource.UTM_SOURCE,
    )
    ConsentText.objects.create(
        form=form, key="newsletter", version=1, text="old text", retired=True
    )
    ConsentText.objects.create(
        form=form,
        key="newsletter",
        version=2,
        text="Send me the <b>newsletter</b> & offers",
        channel="email",
    )
    return form
