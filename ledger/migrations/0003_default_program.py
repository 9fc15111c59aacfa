"""Every installation starts with a default program (alias `main`) and the standard reasons."""

from django.db import migrations

STANDARD_REASONS = [
    ("REWARD", "Reward customer", 1, True),
    ("REFUND_DEDUCTED", "Refund points deducted by redemption/expiration", 1, False),
    ("REDEEM_DISCOUNT", "Redeem points for a discount", -1, False),
    ("REMOVE_EARNED", "Remove earned points", -1, True),
    ("EXPIRE_NOW", "Expire points", -1, False),
]


def create_default_program(apps, schema_editor):
    Program = apps.get_model("accounts", "Program")
    Reason = apps.get_model("ledger", "Reason")
    if Program.objects.filter(is_default=True).exists():
        return
    program = Program.objects.create(name="Loyalty program", alias="main", is_default=True)
    for position, (code, label, sign, lifetime) in enumerate(STANDARD_REASONS):
        Reason.objects.create(
            program=program,
            code=code,
            label=label,
            sign=sign,
            affects_lifetime=lifetime,
            position=position,
        )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_sqlite_append_only"), ("accounts", "0001_initial")]
    operations = [migrations.RunPython(create_default_program, migrations.RunPython.noop)]
