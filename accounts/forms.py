from django import forms
from django.contrib.auth.forms import AuthenticationForm

from loyalty_admin.roles import is_operator

from .models import Program


class OperatorLoginForm(AuthenticationForm):
    """Operators log in with their email address (their username)."""

    username = forms.CharField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an operator.",
    }

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_username(self) -> str:
        # Operators are saved with a lowercased email (loyalty_admin.services.save_operator).
        return self.cleaned_data["username"].strip().lower()

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not is_operator(user):
            raise forms.ValidationError(
                "This account is not a console operator.", code="not_operator"
            )


class AccountSearchForm(forms.Form):
    q = forms.CharField(
        label="Find a customer",
        max_length=254,
        required=False,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "Email, phone or customer id",
            }
        ),
    )
    offset = forms.IntegerField(min_value=0, max_value=10_000, required=False)


class ProgramSettingsForm(forms.ModelForm):
    """What managers may change about the program."""

    class Meta:
        model = Program
        fields = [
            "name",
            "terminology_one",
            "terminology_other",
            "approval_threshold",
            "agent_daily_limit",
            "expiration_policy",
        ]
        labels = {
            "terminology_one": "One unit is called",
            "terminology_other": "Several are called",
            "approval_threshold": "Approval threshold",
            "agent_daily_limit": "Each agent's limit per 24 hours",
            "expiration_policy": "Points expire after",
        }
        help_texts = {
            "approval_threshold": "Agents' adjustments above this many points wait for a "
            "manager's approval. Empty: never.",
            "agent_daily_limit": "Points one agent may grant in any 24 hours (adjustments, "
            "transfers and merges); past it, their grants wait for a manager. Empty: no limit.",
            "expiration_policy": "An ISO-8601 duration such as P12M (12 months), P1Y or P90D. "
            "Empty: points never expire. Applies to points earned from now on.",
        }

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
