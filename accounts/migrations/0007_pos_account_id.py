"""A customer's point-of-sale id, unique per program like the other identities."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_account_merge"),
    ]

    operations = [
        migrations.AddField(
            model_name="loyaltyaccount",
            name="pos_account_id",
            field=models.CharField(blank=True, max_length=191, null=True),
        ),
        migrations.AddConstraint(
            model_name="loyaltyaccount",
            constraint=models.UniqueConstraint(
                fields=("program", "pos_account_id"), name="uniq_pos_account_id"
            ),
        ),
    ]
