from django.core.files.uploadedfile import SimpleUploadedFile

from ledger.models import BulkBatch, LoyaltyEvent

from ..factories import AccountFactory
from .conftest import HX

GOOD = b"customer_id,points,reason\nC-1,50,REWARD\nC-2,30,REWARD\n"


def upload(client, content: bytes, name: str = "adjust.csv"):
    return client.post("/bulk/", {"file": SimpleUploadedFile(name, content, "text/csv")})


def test_it_checks_an_upload_and_shows_the_report(manager_client, program):
    AccountFactory(program=program, customer_id="C-1")

    response = upload(manager_client, GOOD)

    batch = BulkBatch.objects.get()
    assert response["Location"] == f"/bulk/{batch.pk}/"
    page = manager_client.get(response["Location"]).content.decode()
    assert "Has errors" in page
    assert "No customer with customer_id “C-2”." in page
    assert "Apply" not in page
    assert LoyaltyEvent.objects.count() == 0


def test_it_applies_a_clean_file_once(manager_client, program):
    first = AccountFactory(program=program, customer_id="C-1")
    AccountFactory(program=program, customer_id="C-2")
    upload(manager_client, GOOD)
    batch = BulkBatch.objects.get()

    response = manager_client.post(f"/bulk/{batch.pk}/apply")
    again = manager_client.post(f"/bulk/{batch.pk}/apply")

    assert response.status_code == again.status_code == 302
    first.refresh_from_db()
    assert first.balance == 50
    assert LoyaltyEvent.objects.filter(batch=batch).count() == 2
    page = manager_client.get(f"/bulk/{batch.pk}/").content.decode()
    assert "Applied 2 adjustments" in page


def test_it_warns_about_a_file_applied_before(manager_client, program):
    AccountFactory(program=program, customer_id="C-1")
    AccountFactory(program=program, customer_id="C-2")
    upload(manager_client, GOOD)
    manager_client.post(f"/bulk/{BulkBatch.objects.get().pk}/apply")
    upload(manager_client, GOOD)
    second = BulkBatch.objects.order_by("-created_at").first()

    page = manager_client.get(f"/bulk/{second.pk}/").content.decode()
    refused = manager_client.post(f"/bulk/{second.pk}/apply", follow=True).content.decode()

    assert "This exact file was already applied" in page
    assert "Apply it again anyway" in page
    assert "already applied" in refused
    assert LoyaltyEvent.objects.filter(batch=second).count() == 0
    manager_client.post(f"/bulk/{second.pk}/apply", {"allow_duplicate": "1"})
    assert LoyaltyEvent.objects.filter(batch=second).count() == 2


def test_large_files_go_to_the_worker_with_a_progress_bar(manager_client, program, settings):
    settings.BULK_INLINE_ROWS = 1
    AccountFactory(program=program, customer_id="C-1")
    AccountFactory(program=program, customer_id="C-2")
    upload(manager_client, GOOD)
    batch = BulkBatch.objects.get()

    manager_client.post(f"/bulk/{batch.pk}/apply")
    manager_client.post(f"/bulk/{batch.pk}/apply")  # a double click queues it once

    batch.refresh_from_db()
    assert batch.status == "QUEUED"
    fragment = manager_client.get(f"/bulk/{batch.pk}/", **HX).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "<progress" in fragment
    assert "<html" not in fragment
    assert LoyaltyEvent.objects.count() == 0


def test_it_refuses_a_file_that_is_not_csv_text(manager_client, program):
    upload(manager_client, b"\x89PNG\r\n\x1a\n\x00\x00", "photo.csv")

    batch = BulkBatch.objects.get()
    assert batch.status == "INVALID"
    assert "not UTF-8" in batch.errors[0]["message"]


def test_agents_cannot_upload_or_apply(agent_client, manager, program):
    batch = BulkBatch.objects.create(
        program=program,
        uploaded_by=manager,
        filename="x.csv",
        content="",
        sha256="0" * 64,
        status="VALIDATED",
    )

    assert agent_client.get("/bulk/").status_code == 403
    assert upload(agent_client, GOOD).status_code == 403
    assert agent_client.post(f"/bulk/{batch.pk}/apply").status_code == 403
    assert BulkBatch.objects.count() == 1


def test_apply_needs_post(manager_client, manager, program):
    batch = BulkBatch.objects.create(
        program=program,
        uploaded_by=manager,
        filename="x.csv",
        content="",
        sha256="0" * 64,
        status="VALIDATED",
    )

    assert manager_client.get(f"/bulk/{batch.pk}/apply").status_code == 405
