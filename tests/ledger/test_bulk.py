import pytest
from django.core.management import CommandError, call_command

from ledger import services
from ledger.exceptions import BatchNotApplicable, BulkRejected, DuplicateBulkFile
from ledger.models import BulkBatch, LoyaltyEvent
from ledger.selectors import ledger_discrepancies
from ledger.services import Actor, apply_queued_batch

from ..factories import AccountFactory

HEADER = "email,phone,customer_id,points,reason,history_title,note,visible_to_customer\n"


@pytest.fixture
def customers(program, reasons, manager):
    ann = AccountFactory(program=program, email="ann@example.com", phone="+15559990001")
    bob = AccountFactory(program=program, email="bob@example.com", customer_id="C-BOB")
    services.adjust_points(
        account=ann, points=100, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    return ann, bob


def upload(text: str, manager, program):
    return services.upload_bulk_file(
        program=program,
        actor=Actor.of_operator(manager),
        filename="adjust.csv",
        data=text.encode(),
    )


def test_it_reports_every_bad_row_and_writes_nothing(program, customers, reasons, manager):
    reasons["EXPIRE_NOW"].active = False
    reasons["EXPIRE_NOW"].save()
    text = HEADER + (
        "nobody@example.com,,,10,REWARD,,,\n"  # 2 unknown customer
        "ann@example.com,,,10,NOPE,,,\n"  # 3 unknown reason
        "ann@example.com,,,-10,EXPIRE_NOW,,,\n"  # 4 inactive reason
        "ann@example.com,,,-10,REWARD,,,\n"  # 5 sign contradicts the reason
        "ann@example.com,,,-60,REDEEM_DISCOUNT,,,\n"  # 6 fine: 100 -> 40
        "ann@example.com,,,-60,REDEEM_DISCOUNT,,,\n"  # 7 overdraws (40 left) and duplicates 6
        ",,C-BOB,ten,REWARD,,,\n"  # 8 bad number
        ",,C-BOB,10,REWARD,,,maybe\n"  # 9 bad visibility
        ",,,10,REWARD,,,\n"  # 10 no customer named
        ",not a phone,,10,REWARD,,,\n"  # 11 bad phone
        ",,C-BOB,10,REWARD\n"  # 12 too few values
    )

    batch, check = upload(text, manager, program)

    reported = [(e.line, e.field) for e in check.errors]
    assert reported == [
        (2, "email"),
        (3, "reason"),
        (4, "reason"),
        (5, "points"),
        (7, "points"),
        (7, "row"),
        (8, "points"),
        (9, "visible_to_customer"),
        (10, "customer"),
        (11, "phone"),
        (12, "row"),
    ]
    assert check.errors[4].message == "The customer has 40 points; removing 60 would leave -20."
    assert check.errors[5].message == "Same adjustment as line 6."
    assert (batch.status, batch.rows, len(batch.errors)) == ("INVALID", 10, 11)
    with pytest.raises(BatchNotApplicable, match="fix them and upload it again"):
        services.apply_batch(batch=batch)
    assert LoyaltyEvent.objects.filter(source="BULK_IMPORT").count() == 0


def test_it_applies_a_good_file_with_totals_and_links(program, customers, manager):
    ann, bob = customers
    text = HEADER + (
        "ANN@example.com,,,25,REWARD,Birthday bonus,campaign 12,true\n"
        ",+1 555 999 0001,,-50,REDEEM_DISCOUNT,,,\n"
        ",,C-BOB,40,REFUND_DEDUCTED,,,no\n"
    )

    batch, check = upload(text, manager, program)
    assert (check.rows, check.customers, check.points_added, check.points_removed) == (
        3,
        2,
        65,
        50,
    )
    services.apply_batch(batch=batch)

    ann.refresh_from_db()
    bob.refresh_from_db()
    batch.refresh_from_db()
    assert (ann.balance, ann.lifetime_points) == (75, 125)
    assert (bob.balance, bob.lifetime_points) == (40, 0)
    assert (batch.status, batch.rows_applied) == ("APPLIED", 3)
    events = list(batch.events.order_by("created_at"))
    assert [(e.points, e.source, e.actor) for e in events] == [
        (25, "BULK_IMPORT", manager),
        (-50, "BULK_IMPORT", manager),
        (40, "BULK_IMPORT", manager),
    ]
    assert (events[0].history_title, events[0].note) == ("Birthday bonus", "campaign 12")
    assert events[1].history_title == "Redeem points for a discount"
    assert events[2].visible_to_customer is False
    assert ledger_discrepancies() == []


def test_a_failure_in_the_middle_applies_nothing(program, customers, manager):
    ann, _ = customers
    text = HEADER + "".join(f"ann@example.com,,,1,REWARD,Bonus {i},,\n" for i in range(2_500))
    batch, _ = upload(text, manager, program)

    def crash(done: int) -> None:
        if done == 2_000:
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        services.apply_batch(batch=batch, progress=crash)

    ann.refresh_from_db()
    batch.refresh_from_db()
    assert ann.balance == 100
    assert batch.status == "VALIDATED"
    assert LoyaltyEvent.objects.filter(source="BULK_IMPORT").count() == 0


def test_the_same_file_is_not_applied_twice_by_accident(program, customers, manager):
    text = HEADER + "ann@example.com,,,5,REWARD,,,\n"
    first, _ = upload(text, manager, program)
    services.apply_batch(batch=first)
    second, _ = upload(text, manager, program)

    assert services.previous_application(second) == first
    with pytest.raises(DuplicateBulkFile, match="already applied"):
        services.apply_batch(batch=second)
    services.apply_batch(batch=second, allow_duplicate=True)
    assert LoyaltyEvent.objects.filter(source="BULK_IMPORT").count() == 2


def test_apply_checks_again_against_balances_changed_since_the_dry_run(
    program, customers, reasons, manager
):
    ann, _ = customers
    batch, check = upload(HEADER + "ann@example.com,,,-80,REDEEM_DISCOUNT,,,\n", manager, program)
    assert check.errors == []
    services.adjust_points(
        account=ann,
        points=-50,
        reason=reasons["REDEEM_DISCOUNT"],
        actor=Actor.of_operator(manager),
    )

    with pytest.raises(BulkRejected):
        services.apply_batch(batch=batch)
    ann.refresh_from_db()
    assert ann.balance == 50


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty."),
        ("email,points\n", "Missing column(s): reason."),
        ("points,reason\n", "Add a column that names the customer"),
        ("email,points,reason,colour\n", "Unknown column(s): colour."),
        ("email,points,reason\n", "The file has a header but no rows."),
    ],
)
def test_it_explains_a_bad_header(program, manager, text, message):
    batch, check = upload(text, manager, program)

    assert message in check.errors[0].message
    assert batch.status == "INVALID"


def test_it_refuses_a_file_that_is_not_utf8(program, manager):
    batch, check = services.upload_bulk_file(
        program=program,
        actor=Actor.of_operator(manager),
        filename="x.csv",
        data=b"email,points\n\xff\xfe",
    )

    assert "not UTF-8" in check.errors[0].message


# The worker closes the database connection after a task, as in production.
@pytest.mark.django_db(transaction=True)
def test_the_worker_applies_a_queued_batch(program, customers, manager):
    ann, _ = customers
    batch, _ = upload(HEADER + "ann@example.com,,,7,REWARD,,,\n", manager, program)
    BulkBatch.objects.filter(pk=batch.pk).update(status=BulkBatch.Status.QUEUED)

    apply_queued_batch.enqueue(str(batch.pk))
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)

    batch.refresh_from_db()
    ann.refresh_from_db()
    assert (batch.status, batch.rows_applied, ann.balance) == ("APPLIED", 1, 107)


# The worker closes the database connection after a task, as in production.
@pytest.mark.django_db(transaction=True)
def test_the_worker_records_why_a_batch_failed(program, customers, manager):
    batch, _ = upload(HEADER + "ann@example.com,,,-500,REDEEM_DISCOUNT,,,\n", manager, program)

    apply_queued_batch.enqueue(str(batch.pk))
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)

    batch.refresh_from_db()
    assert batch.status == "FAILED"
    assert batch.failure == "The file has 1 error(s); nothing was applied."
    assert batch.errors[0]["line"] == 2


def test_the_command_checks_then_applies(program, customers, manager, tmp_path, capsys):
    path = tmp_path / "adjust.csv"
    path.write_text(HEADER + "ann@example.com,,,5,REWARD,,,\nzed@example.com,,,5,REWARD,,,\n")

    with pytest.raises(CommandError, match="1 error"):
        call_command("bulk_adjust", str(path), dry_run=True)
    assert "line 3, email: No customer with email “zed@example.com”." in capsys.readouterr().out
    path.write_text(HEADER + "ann@example.com,,,5,REWARD,,,\n")
    call_command("bulk_adjust", str(path), operator=manager.username)

    customers[0].refresh_from_db()
    assert customers[0].balance == 105


def test_the_totals_count_only_the_rows_that_would_be_applied(program, customers, manager):
    text = HEADER + (
        "ANN@example.com,,,25,REWARD,,,\n"
        "ANN@example.com,,,-10,REDEEM_DISCOUNT,,,\n"
        "nobody@example.com,,,-1000000,REDEEM_DISCOUNT,,,\n"
        "nobody@example.com,,,500000,REWARD,,,\n"
    )

    _, check = upload(text, manager, program)

    assert len(check.errors) == 2
    assert (check.points_added, check.points_removed) == (25, 10)
