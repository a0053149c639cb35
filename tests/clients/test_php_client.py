"""The PHP client (clients/php) against a running MailPass: its PHPUnit tests, and the product
page's PHP snippet run as written.

PHP, Composer and PHPUnit are Debian's packages (``.ci/install-php``; CI runs it). Without
them these tests skip, unless MAILPASS_TEST_REQUIRE_SERVICES=1 (CI), where they fail.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.clients.conftest import PHP_CLIENT, ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PRODUCT_PAGE = "seed-mail-send-api.txt"
# The PHP example of the product page, as it is written there.
PRODUCT_PAGE_SNIPPET = """$client = new MailPass\\Client('mp_live_YOUR_KEY');
// Single send
$result = $client->mail->send([
'to' => 'user@example.com',
'subject' => 'Hello',
'html' => '<p>Hello World</p>',
]);
echo $result['data']['message_id'];"""


@pytest.fixture
def php(mailpass_server, tmp_path):
    """The PHP tools, with the client's Composer autoloader written (offline)."""
    missing = [tool for tool in ("php", "composer", "phpunit") if shutil.which(tool) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (.ci/install-php installs Debian's packages)"
        if os.environ.get("MAILPASS_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"MAILPASS_TEST_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    composer_home = tmp_path / "composer"
    env = {
        "COMPOSER_ALLOW_SUPERUSER": "1",
        "COMPOSER_HOME": str(composer_home),
        "COMPOSER_DISABLE_NETWORK": "1",
    }
    result = mailpass_server.run(
        ["composer", "dump-autoload", "--dev", "--no-interaction"], cwd=PHP_CLIENT, extra_env=env
    )
    assert result.returncode == 0, result.output
    return mailpass_server


def phpunit(server, *args: str, extra_env: dict[str, str] | None = None):
    return server.run(
        ["phpunit", "--configuration", "phpunit.xml.dist", *args],
        cwd=PHP_CLIENT,
        extra_env=extra_env,
    )


def test_its_phpunit_tests_pass_against_the_server(php):
    # The "retry" and "ratelimit" groups need their own set-up: the tests below run them.
    result = phpunit(php, "--exclude-group", "ratelimit,retry")

    result.assert_passed()
    facts = result.facts
    (sent_id,) = facts["sent_message_id"]
    (sent,) = php.received(sent_id)
    assert set(sent.rcpt_tos) == {"php-user@example.com", "cc@example.com", "bcc@example.com"}
    (invoice,) = sent.parsed.iter_attachments()
    assert invoice.get_content() == "total: 42\n"
    (canceled_id,) = facts["canceled_message_id"]
    assert php.received(canceled_id) == []
    for message_id in facts["batch_message_id"] + facts["idempotent_message_id"]:
        assert len(php.received(message_id)) == 1, message_id


def test_a_php_send_whose_answer_is_lost_is_retried_with_one_key_and_goes_out_once(
    php, answer_dropping_proxy
):
    result = phpunit(
        php, "--group", "retry", extra_env={"MAILPASS_PROXY_URL": answer_dropping_proxy.url}
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
        assert len(php.received(message_id)) == 1, message_id
    assert sorted(answer_dropping_proxy.forwarded.values()) == [2, 2, 2]
    assert answer_dropping_proxy.dropped == 3
    assert len(php.smtp.messages) == 4


def test_it_throws_or_waits_out_the_api_rate_limit(php, settings):
    settings.MAILPASS_API_RATE = "2/s"

    phpunit(php, "--group", "ratelimit").assert_passed()


def test_the_product_page_snippet_runs_as_written_and_prints_a_message_id(php):
    result = php.run(["php", "examples/run-product-page.php"], cwd=PHP_CLIENT)

    assert result.returncode == 0, result.output
    message_id = result.output
    assert re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", message_id), message_id
    (received,) = php.received(message_id)
    assert received.rcpt_tos == ["user@example.com"]
    assert received.parsed["Subject"] == "Hello"
    assert "Hello World" in received.parsed.get_body(("html",)).get_content()


def test_the_example_file_is_the_product_page_snippet_verbatim():
    example = (PHP_CLIENT / "examples" / "product-page.php").read_text(encoding="utf-8")

    assert example == "<?php\n\n" + PRODUCT_PAGE_SNIPPET + "\n"


def test_the_snippet_is_the_one_on_the_product_page():
    # shared/ lies beside the checkout (CI's clone, /work/main) or one level up (a worktree).
    candidates = [ROOT.parent / "shared", ROOT.parent.parent / "shared"]
    seeds = [path / "spec" / PRODUCT_PAGE for path in candidates]
    seed = next((path for path in seeds if path.exists()), None)
    if seed is None:
        pytest.skip(f"the product page ({PRODUCT_PAGE}) is not beside this checkout")

    assert PRODUCT_PAGE_SNIPPET in Path(seed).read_text(encoding="utf-8")
