import uuid
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Program
from ledger.exceptions import IdempotencyConflict, LedgerError
from ledger.models import LoyaltyEvent, Reason
from ledger.selectors import EventQuery
from ledger.services import TEXT_LIMITS
from loyalty_admin.models import ApiClient
from loyalty_admin.roles import ROLES

# The ledger names the input it refuses; the console's form calls some of them differently.
FORM_FIELDS = {"points": "amount"}


class ConsoleForm(forms.Form):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def reason_choice_label(reason: Reason) -> str:
    # The label comes first so that typing its first letters picks it in the list.
    note = ", note required" if reason.requires_note else ""
    return f"{reason.label} ({reason.get_sign_display()}{note})"


class AdjustmentForm(ConsoleForm):
    """An operator's adjustment: the reason gives the sign, the amount is always positive.

    `allow_negative` exists only in a manager's form, so an agent who adds it to the POST by
    hand is not heard.
    """

    reason = forms.ModelChoiceField(queryset=Reason.objects.none(), empty_label="Choose a reason…")
    # A size, never negative: the reason gives the sign. Zero, the largest size and the texts'
    # lengths are the ledger's rules, refused next to the field like any other.
    amount = forms.IntegerField(min_value=0, widget=forms.NumberInput())
    history_title = forms.CharField(
        label="Title in the customer's history",
        required=False,
        widget=forms.TextInput(attrs={"maxlength": TEXT_LIMITS["history_title"]}),
    )
    note = forms.CharField(
        label="Internal note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    visible_to_customer = forms.BooleanField(
        label="Visible to the customer", required=False, initial=True
    )
    allow_negative = forms.BooleanField(label="Allow a negative balance", required=False)
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, program: Program, manager: bool, **kwargs) -> None:
        kwargs.setdefault("initial", {}).setdefault("token", uuid.uuid4())
        super().__init__(*args, **kwargs)
        self.program = program
        reason = self.fields["reason"]
        # Every reason of the program is accepted, so that one deactivated since the page was
        # loaded reaches the ledger and is refused with its own message; only active ones are
        # offered.
        reason.queryset = Reason.objects.filter(program=program)
        reason.label_from_instance = reason_choice_label
        reason.widget.choices = [("", reason.empty_label)] + [
            (r.pk, reason_choice_label(r)) for r in reason.queryset if r.active
        ]
        reason.help_text = "Type its first letters, or its place in the list (1–9)."
        reason.widget.attrs["data-number-keys"] = ""
        if not self.is_bound:
            # Opening a customer, or after a submit: ready for the next adjustment.
            reason.widget.attrs["autofocus"] = True
        self.fields["amount"].label = f"Amount ({program.terminology_other.lower()})"
        self.fields["amount"].widget.attrs.update({"inputmode": "numeric", "min": 1})
        self.fields["history_title"].widget.attrs["placeholder"] = "The reason's label"
        if not manager:
            del self.fields["allow_negative"]

    def adjustment(self) -> dict:
        """Arguments for `preview_adjustment` / `adjust_points`."""
        data = self.cleaned_data
        reason: Reason = data["reason"]
        return {
            "reason": reason,
            "points": reason.sign * data["amount"],
            "note": data["note"],
            "history_title": data["history_title"].strip(),
            "allow_negative": data.get("allow_negative", False),
        }

    def add_ledger_error(self, error: LedgerError) -> None:
        """Show the ledger's refusal next to the field it is about."""
        if isinstance(error, IdempotencyConflict):
            # The token was spent on other values (e.g. back, edit, resubmit): a fresh one lets
            # the operator decide again, having seen the history.
            self.data = self.data.copy()
            self.data[self.add_prefix("token")] = str(uuid.uuid4())
            self.add_error(
                None,
                "This form was already submitted with other values. Check the history below; "
                "submitting again makes a new adjustment.",
            )
            return
        field = FORM_FIELDS.get(error.field or "", error.field)
        self.add_error(field if field in self.fields else None, error.message)

    def event_fields(self) -> dict:
        """The extra arguments of `adjust_points` that the preview does not need."""
        return {
            "visible_to_customer": self.cleaned_data["visible_to_customer"],
            "idempotency_key": str(self.cleaned_data["token"]),
        }


class ReasonForm(ConsoleForm):
    """A new reason. Code and sign are fixed once created: past events keep their meaning."""

    code = forms.CharField(
        help_text="Capital letters, digits and _; cannot be changed later.",
        widget=forms.TextInput(attrs={"maxlength": 40}),
    )
    label = forms.CharField(max_length=120)
    sign = forms.TypedChoiceField(
        choices=[(1, "+ adds"), (-1, "− removes")], coerce=int, widget=forms.RadioSelect
    )
    affects_lifetime = forms.BooleanField(label="Changes points earned", required=False)
    requires_note = forms.BooleanField(label="Requires a note", required=False)


class ReasonChangeForm(ConsoleForm):
    label = forms.CharField(max_length=120)
    affects_lifetime = forms.BooleanField(label="Changes points earned", required=False)
    requires_note = forms.BooleanField(label="Requires a note", required=False)


class BulkUploadForm(ConsoleForm):
    MAX_BYTES = 50 * 1024 * 1024

    file = forms.FileField(
        label="CSV file",
        help_text="Columns: email, phone or customer_id; points (signed); reason (a code); "
        "optionally history_title, note, visible_to_customer. Nothing is applied until you "
        "have seen the check.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("Files of up to 50 MB can be uploaded; split this one.")
        return upload


# --- Manager review -------------------------------------------------------------------------

# Without dates in the URL the explorer shows the last 30 days, so that the default page's
# totals and chart never aggregate the whole ledger; an explicitly empty date means no bound.
DEFAULT_HISTORY_DAYS = 30


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class HistoryFilterForm(ConsoleForm):
    """The explorer's filters, read from (and written back to) the query string."""

    date_from = forms.DateField(label="From", required=False, widget=DateInput())
    date_to = forms.DateField(label="To", required=False, widget=DateInput())
    reason = forms.ModelChoiceField(
        queryset=Reason.objects.none(), required=False, empty_label="Any reason"
    )
    source = forms.ChoiceField(required=False)
    by = forms.ChoiceField(label="Operator or API client", required=False)
    customer = forms.CharField(
        label="Customer",
        required=False,
        max_length=254,
        widget=forms.TextInput(
            attrs={"placeholder": "Email, phone, customer or account id", "autocomplete": "off"}
        ),
    )
    sign = forms.ChoiceField(
        label="Direction",
        required=False,
        choices=[("", "Added or removed"), ("added", "Added"), ("removed", "Removed")],
    )
    amount_min = forms.IntegerField(label="At least", required=False, min_value=1)
    amount_max = forms.IntegerField(label="At most", required=False, min_value=1)

    def __init__(self, data=None, *, program: Program, **kwargs) -> None:
        if data is not None and "date_from" not in data and "date_to" not in data:
            data = data.copy()
            since = timezone.localdate() - timedelta(days=DEFAULT_HISTORY_DAYS - 1)
            data["date_from"] = since.isoformat()
        super().__init__(data, **kwargs)
        self.program = program
        self.fields["reason"].queryset = Reason.objects.filter(program=program)
        self.fields["source"].choices = [("", "Any source"), *LoyaltyEvent.Source.choices]
        operators = (
            get_user_model()
            .objects.filter(groups__name__in=list(ROLES.values()))
            .distinct()
            .order_by("email")
            .values_list("pk", "email")
        )
        clients = ApiClient.objects.order_by("name").values_list("prefix", "name")
        self.fields["by"].choices = [
            ("", "Anyone"),
            ("Operators", [(f"operator:{pk}", email) for pk, email in operators]),
            ("API clients", [(f"client:{prefix}", name) for prefix, name in clients]),
        ]
        for name in ("amount_min", "amount_max"):
            self.fields[name].widget.attrs.update({"inputmode": "numeric", "min": 1})

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        low, high = data.get("amount_min"), data.get("amount_max")
        if low and high and low > high:
            self.add_error("amount_max", "The largest amount is below the smallest.")
        return data

    def filters(self) -> EventQuery:
        """The program's events these filters keep. The dates are whole days in the current
        time zone: from the start of `date_from` to the start of the day after `date_to`."""
        data = self.cleaned_data
        kind, _, who = (data.get("by") or "").partition(":")
        start, end = data.get("date_from"), data.get("date_to")
        return EventQuery(
            program=self.program,
            created_from=_start_of(start) if start else None,
            created_before=_start_of(end + timedelta(days=1)) if end else None,
            reason=data.get("reason"),
            source=data.get("source") or None,
            operator_id=int(who) if kind == "operator" else None,
            api_client_prefix=who if kind == "client" else None,
            customer=data.get("customer") or None,
            sign=data.get("sign") or None,
            amount_min=data.get("amount_min"),
            amount_max=data.get("amount_max"),
        )

    def query_string(self) -> str:
        """The filters as a query string, for the export link and pagination."""
        values = {name: self.data.get(name, "") for name in self.fields}
        return urlencode({k: v for k, v in values.items() if v or k.startswith("date_")})


class ReversalForm(ConsoleForm):
    note = forms.CharField(
        label="Why reverse it?",
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": TEXT_LIMITS["note"]}),
    )
    allow_negative = forms.BooleanField(label="Allow a negative balance", required=False)
    token = forms.UUIDField(widget=forms.HiddenInput)
    # Which page the form is on, so the answer updates that page.
    origin = forms.ChoiceField(
        choices=[("event", "event"), ("account", "account"), ("history", "history")],
        required=False,
        widget=forms.HiddenInput,
    )

    def __init__(self, *args, event: LoyaltyEvent, **kwargs) -> None:
        kwargs.setdefault("initial", {}).setdefault("token", uuid.uuid4())
        kwargs.setdefault("prefix", f"reverse-{event.pk}")
        super().__init__(*args, **kwargs)
        self.fields["note"].widget.attrs["placeholder"] = "Required: what went wrong"


class ApprovalForm(ConsoleForm):
    """Approve: the token makes a retry of this very form idempotent, while a second tab (its
    own token) is told that the request was already decided, by whom and when."""

    token = forms.UUIDField(required=False, widget=forms.HiddenInput)


class RejectionForm(ConsoleForm):
    note = forms.CharField(
        label="Why reject it?",
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": TEXT_LIMITS["note"]}),
    )

    def __init__(self, *args, request_id: object, **kwargs) -> None:
        kwargs.setdefault("prefix", f"reject-{request_id}")
        super().__init__(*args, **kwargs)


# --- Webhooks --------------------------------------------------------------------------------


class WebhookSubscriptionForm(ConsoleForm):
    name = forms.CharField(max_length=64, required=False)
    notification_url = forms.CharField(
        label="Notification URL",
        max_length=2000,
        help_text="http:// or https://; every notification is signed with the subscription's key.",
    )
    event_types = forms.MultipleChoiceField(
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        help_text="What to send.",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, event_types: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [(t, t) for t in event_types]


# --- Account operations: merge a duplicate, transfer points -----------------------------------


class MergeForm(ConsoleForm):
    """Merge the chosen duplicate into the account whose page this is."""

    other = forms.UUIDField(
        label="Duplicate account",
        error_messages={"required": "Choose the duplicate account to merge into this one."},
    )
    note = forms.CharField(
        label="Internal note", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    # Given by the preview to its submit button: submitting twice makes one operation.
    token = forms.UUIDField(required=False, widget=forms.HiddenInput)

    @property
    def idempotency_key(self) -> str:
        """The preview's token (one is made for the preview to hand on when none came)."""
        token = self.cleaned_data.get("token") or uuid.uuid4()
        self.cleaned_data["token"] = token
        return str(token)

    def add_ledger_error(self, error: LedgerError) -> None:
        field = {"target": "other"}.get(error.field or "", error.field)
        self.add_error(field if field in self.fields else None, error.message)


class TransferForm(MergeForm):
    """Move points from the account whose page this is to the chosen one."""

    amount = forms.IntegerField(min_value=0, widget=forms.NumberInput(attrs={"min": 1}))
    reason = forms.CharField(
        label="Why", widget=forms.TextInput(attrs={"maxlength": TEXT_LIMITS["reason_text"]})
    )
    allow_negative = forms.BooleanField(label="Allow a negative balance", required=False)
    field_order = ["other", "amount", "reason", "note", "allow_negative"]

    def __init__(self, *args, program: Program, manager: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["other"].label = "Transfer to"
        self.fields["other"].error_messages["required"] = "Choose the account to transfer to."
        self.fields["amount"].label = f"Amount ({program.terminology_other.lower()})"
        if not manager:
            del self.fields["allow_negative"]

    def transfer(self) -> dict:
        """Arguments for `preview_transfer` / `transfer_points`, but the two accounts."""
        data = self.cleaned_data
        return {
            "points": data["amount"],
            "reason": data["reason"],
            "note": data["note"],
            "allow_negative": data.get("allow_negative", False),
        }

    def add_ledger_error(self, error: LedgerError) -> None:
        field = {"target": "other", "points": "amount"}.get(error.field or "", error.field)
        self.add_error(field if field in self.fields else None, error.message)
