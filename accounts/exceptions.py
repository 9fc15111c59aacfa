"""Why the customer side refuses an action (see `loyalty_admin.refusals`)."""

from loyalty_admin.refusals import Refusal


class InvalidIdentity(Refusal):
    code = "INVALID_IDENTITY"
    default_message = "A loyalty account needs a phone number, an email or a customer id."


class DuplicateAccount(Refusal):
    code = "DUPLICATE_ACCOUNT"
    default_message = "A loyalty account with this identity already exists."


class InvalidProgramSetting(Refusal):
    code = "INVALID_SETTING"
