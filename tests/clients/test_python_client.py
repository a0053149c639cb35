"""The Python client (clients/python) against a running MailPass, in child processes.

Each test runs some of the client's own test files (``clients/python/tests``) with
``-p no:django`` and a clean environment, then checks here, in the SMTP sink, what the child
cannot see: which mail went out, how often, and what it looked like.
"""

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_its_offline_tests_pass_webhook_verification_retry_rules_and_django_conversion(
    mailpass_server,
):
    result = mailpass_server.run_python_tests(
        "tests/test_webhook_verify.py",
        "tests/test_retry_policy.py",
        "tests/test_django_message.py",
    )

    result.assert_passed()


def test_it_sends_queues_reads_status_and_cancels(mailpass_server):
    result = mailpass_server.run_python_tests("tests/test_mail.py")

    result.assert_passed()
    (sent_id,) = result.facts["sent_message_id"]
    (sent,) = mailpass_server.received(sent_id)
    parsed = sent.parsed
    assert set(sent.rcpt_tos) == {"user@example.com", "cc@example.com", "bcc@example.com"}
    assert parsed["List-Unsubscribe"] == "<mailto:unsubscribe@yourdomain.com>"
    files = {part.get_filename(): part for part in parsed.iter_attachments()}
    assert files["invoice.txt"].get_content() == "total: 42\n"
    inline = [p for p in parsed.walk() if p["Content-ID"] == "<logo>"]
    assert len(inline) == 1 and inline[0].get_content_type() == "image/png"
    for message_id in result.facts["batch_message_id"] + result.facts["idempotent_message_id"]:
        assert len(mailpass_server.received(message_id)) == 1, message_id
    (canceled_id,) = result.facts["canceled_message_id"]
    assert mailpass_server.received(canceled_id) == []


def test_it_raises_each_error_family_with_code_status_and_details(mailpass_server):
    mailpass_server.run_python_tests("tests/test_errors.py").assert_passed()


def test_it_manages_templates_suppressions_and_webhook_endpoints(mailpass_server):
    result = mailpass_server.run_python_tests(
        "tests/test_templates.py", "tests/test_suppressions.py", "tests/test_webhooks_api.py"
    )

    result.assert_passed()


def test_it_raises_or_waits_out_the_api_rate_limit(mailpass_server, settings):
    settings.MAILPASS_API_RATE = "2/s"

    result = mailpass_server.run_python_tests(
        "tests/test_rate_limit.py", extra_env={"MAILPASS_TEST_RATE_LIMITED": "1"}
    )

    result.assert_passed()


def test_a_send_whose_answer_is_lost_is_retried_with_one_key_and_goes_out_once(
    mailpass_server, answer_dropping_proxy
):
    result = mailpass_server.run_python_tests(
        "tests/test_retry.py", extra_env={"MAILPASS_PROXY_URL": answer_dropping_proxy.url}
    )

    result.assert_passed()
    facts = result.facts
    message_ids = (
        facts["retried_message_id"]
        + facts["retried_batch_message_id"]
        + facts["replayed_message_id"]
    )
    assert len(message_ids) == 4
    for message_id in message_ids:
        assert len(mailpass_server.received(message_id)) == 1, message_id
    # Each send, the batch and the hand-made retry reached the server twice with one key;
    # the first answer of each was lost.
    assert sorted(answer_dropping_proxy.forwarded.values()) == [2, 2, 2]
    assert answer_dropping_proxy.dropped == 3
    assert len(mailpass_server.smtp.messages) == 4


def test_the_django_backend_sends_a_multipart_message_with_an_attachment_and_inline_image(
    mailpass_server,
):
    result = mailpass_server.run_python_tests("tests/test_django_backend.py")

    result.assert_passed()
    (message_id,) = result.facts["django_message_id"]
    (received,) = mailpass_server.received(message_id)
    email = received.parsed
    assert set(received.rcpt_tos) == {
        "ada@example.com",
        "bob@example.com",
        "accounts@example.com",
        "audit@example.com",
    }
    assert email["From"] == "Billing <billing@yourdomain.com>"
    assert email["To"] == "ada@example.com"
    assert set(email["Cc"].split(", ")) == {"bob@example.com", "accounts@example.com"}
    assert email["Bcc"] is None
    assert email["Reply-To"] == "help@yourdomain.com"
    assert email["Subject"] == "Your invoice"
    assert email["X-Order"] == "12345"
    assert email.get_content_type() == "multipart/mixed"
    assert email.get_body(("plain",)).get_content().strip() == "Your invoice is attached."
    html_part = email.get_body(("html",))
    assert 'src="cid:logo"' in html_part.get_content()
    related = next(p for p in email.walk() if p.get_content_type() == "multipart/related")
    image = next(p for p in related.iter_parts() if p["Content-ID"] == "<logo>")
    assert image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline"
    (pdf,) = [p for p in email.iter_attachments() if p.get_filename() == "invoice.pdf"]
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_content() == (
        b"%PDF-1.4\n% MailPass test invoice\n" + bytes(range(256)) + b"\n%%EOF\n"
    )
    assert image.get_content() == bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
    )
