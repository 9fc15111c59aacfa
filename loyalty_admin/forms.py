from django import forms
from django.contrib.auth import get_user_model

from .audit import ACTIONS
from .models import ApiClient
from .roles import ROLES

ROLE_CHOICES = [("agent", "Agent"), ("manager", "Manager")]


class ConsoleForm(forms.Form):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class AuditFilterForm(ConsoleForm):
    action = forms.ChoiceField(required=False)
    actor = forms.ModelChoiceField(
        label="Who", queryset=get_user_model().objects.none(), required=False, empty_label="Anyone"
    )
    date_from = forms.DateField(label="From", required=False, widget=DateInput())
    date_to = forms.DateField(label="To", required=False, widget=DateInput())

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *ACTIONS.items()]
        actor = self.fields["actor"]
        actor.queryset = (
            get_user_model().objects.filter(groups__name__in=list(ROLES.values())).distinct()
        ).order_by("email")
        actor.label_from_instance = lambda user: user.email


class InviteForm(ConsoleForm):
    email = forms.EmailField(max_length=254)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="agent", widget=forms.RadioSelect)


class RoleForm(ConsoleForm):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class ApiClientForm(ConsoleForm):
    name = forms.CharField(max_length=50, help_text="Who uses the key, e.g. “Square POS”.")
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in ApiClient.SCOPES],
        initial=list(ApiClient.SCOPES),
        widget=forms.CheckboxSelectMultiple,
    )
    rate_limit = forms.IntegerField(
        label="Requests per minute", min_value=1, max_value=100_000, initial=100
    )

    def clean_scopes(self) -> str:
        return ",".join(s for s in ApiClient.SCOPES if s in self.cleaned_data["scopes"])
