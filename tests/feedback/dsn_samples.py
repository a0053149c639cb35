"""Bounce messages in the shapes real servers send (Postfix, Exim, Exchange, Gmail), written
for these tests with our own values."""

BOUNDARY = "=_dsn_boundary_42"


def _report(*, headers: str, human: str, status: str, original_headers: str) -> bytes:
    text = (
        f"{headers}"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{BOUNDARY}"\n'
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        f"--{BOUNDARY}\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        f"{human}\n"
        "\n"
        f"--{BOUNDARY}\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        f"{status}\n"
        f"--{BOUNDARY}\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        f"{original_headers}\n"
        f"--{BOUNDARY}--\n"
    )
    return text.replace("\n", "\r\n").encode()


def _original(message, bounce_address: str) -> str:
    return (
        f"Return-Path: <{bounce_address}>\n"
        f"From: {message.from_email}\n"
        f"To: {message.to_email}\n"
        f"Subject: {message.subject}\n"
        f"Message-ID: {message.message_id}\n"
    )


def postfix(message, bounce_address: str, *, recipient: str, dsn_id: str) -> bytes:
    return _report(
        headers=(
            "Return-Path: <>\n"
            "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
            "Subject: Undelivered Mail Returned to Sender\n"
            f"To: {bounce_address}\n"
            "Auto-Submitted: auto-replied\n"
            f"Message-Id: <{dsn_id}@mx.example.net>\n"
            "Date: Tue,  1 Dec 2026 00:15:02 +0000 (UTC)\n"
        ),
        human=(
            "This is the mail system at host mx.example.net.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            f"<{recipient}>: host mx.example.com[192.0.2.10] said: 550 5.1.1\n"
            f"    <{recipient}>: Recipient address rejected: User unknown in local\n"
            "    recipient table (in reply to RCPT TO command)"
        ),
        status=(
            "Reporting-MTA: dns; mx.example.net\n"
            "X-Postfix-Queue-ID: 4B1C2D3E5F\n"
            f"X-Postfix-Sender: rfc822; {bounce_address}\n"
            "Arrival-Date: Tue,  1 Dec 2026 00:15:00 +0000 (UTC)\n"
            "\n"
            f"Final-Recipient: rfc822; {recipient}\n"
            f"Original-Recipient: rfc822;{recipient}\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "Remote-MTA: dns; mx.example.com\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected:\n"
            "    User unknown in local recipient table\n"
        ),
        original_headers=_original(message, bounce_address),
    )


def exim_delayed(message, bounce_address: str, *, recipient: str, dsn_id: str) -> bytes:
    return _report(
        headers=(
            "Return-path: <>\n"
            "From: Mail Delivery System <Mailer-Daemon@mail.example.org>\n"
            f"To: {bounce_address}\n"
            "Subject: Warning: message 1rABCd-0001Xy-2Q delayed 24 hours\n"
            "Auto-Submitted: auto-replied\n"
            f"Message-Id: <E1rXYZ-{dsn_id}@mail.example.org>\n"
        ),
        human=(
            "This message was created automatically by mail delivery software.\n"
            "A message that you sent has not yet been delivered to one or more of its\n"
            "recipients after more than 24 hours on the queue on mail.example.org.\n\n"
            f"  {recipient}\n    Mailbox is full: retry timeout not exceeded"
        ),
        status=(
            "Reporting-MTA: dns; mail.example.org\n"
            "\n"
            f"Action: delayed\n"
            f"Final-Recipient: rfc822;{recipient}\n"
            "Status: 4.2.2\n"
            "Remote-MTA: dns; mx.example.com\n"
            "Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\n"
            "Will-Retry-Until: Tue, 08 Dec 2026 00:15:00 +0000\n"
        ),
        original_headers=_original(message, bounce_address),
    )


def exim_failed(message, bounce_address: str, *, recipient: str, dsn_id: str) -> bytes:
    return _report(
        headers=(
            "Return-path: <>\n"
            "From: Mail Delivery System <Mailer-Daemon@mail.example.org>\n"
            f"To: {bounce_address}\n"
            "Subject: Mail delivery failed: returning message to sender\n"
            f"Message-Id: <E1rXYZ-{dsn_id}@mail.example.org>\n"
        ),
        human=(
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
            f"  {recipient}\n    host mx.example.com [192.0.2.20]\n"
            "    SMTP error from remote mail server after RCPT TO:<...>:\n"
            "    550 5.1.1 No such user here"
        ),
        status=(
            "Reporting-MTA: dns; mail.example.org\n"
            "\n"
            "Action: failed\n"
            f"Final-Recipient: rfc822;{recipient}\n"
            "Status: 5.0.0\n"
            "Remote-MTA: dns; mx.example.com\n"
            "Diagnostic-Code: smtp; 550 5.1.1 No such user here\n"
        ),
        original_headers=_original(message, bounce_address),
    )


def exchange(message, bounce_address: str, *, recipient: str, dsn_id: str) -> bytes:
    return _report(
        headers=(
            "From: postmaster@contoso.example\n"
            f"To: {bounce_address}\n"
            f"Subject: Undeliverable: {message.subject}\n"
            "Content-Language: en-US\n"
            f"Message-ID: <{dsn_id}@AM0PR01MB1234.eurprd01.prod.exchangelabs.com>\n"
            "X-MS-Exchange-Message-Is-Ndr:\n"
        ),
        human=(
            "Delivery has failed to these recipients or groups:\n\n"
            f"{recipient}\n"
            "The email address you entered couldn't be found. Please check the recipient's\n"
            "email address and try to resend the message.\n\n"
            "Diagnostic information for administrators:\n"
            "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient "
            "not found by SMTP address lookup'"
        ),
        status=(
            "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com\n"
            "Received-From-MTA: dns;mail-out.mailpass.example\n"
            "Arrival-Date: Tue, 1 Dec 2026 00:15:00 +0000\n"
            "\n"
            f"Final-Recipient: rfc822;{recipient}\n"
            "Action: failed\n"
            "Status: 5.1.10\n"
            "Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not\n"
            " found by SMTP address lookup\n"
            f"X-Display-Name: {recipient}\n"
        ),
        original_headers=_original(message, bounce_address),
    )


def gmail(message, bounce_address: str, *, recipient: str, dsn_id: str) -> bytes:
    return _report(
        headers=(
            "Return-Path: <>\n"
            "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
            f"To: {bounce_address}\n"
            "Subject: Delivery Status Notification (Failure)\n"
            "Auto-Submitted: auto-replied\n"
            f"Message-ID: <{dsn_id}.mx.google.com>\n"
            "Date: Tue, 01 Dec 2026 00:15:03 -0800 (PST)\n"
        ),
        human=(
            "** Address not found **\n\n"
            f"Your message wasn't delivered to {recipient} because the address couldn't be\n"
            "found, or is unable to receive mail.\n\n"
            "The response from the remote server was:\n"
            "550 5.1.1 The email account that you tried to reach does not exist."
        ),
        status=(
            "Reporting-MTA: dns; googlemail.com\n"
            "Received-From-MTA: dns; mail-out.mailpass.example\n"
            "Arrival-Date: Tue, 01 Dec 2026 00:15:02 -0800 (PST)\n"
            "\n"
            f"Final-Recipient: rfc822; {recipient}\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "Remote-MTA: dns; gmail-smtp-in.l.google.com. (2a00:1450:400c:c0b::1a, the server\n"
            " for the domain gmail.com.)\n"
            "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does\n"
            " not exist. Please try 550-5.1.1 double-checking the recipient's email address\n"
            " for typos or unnecessary spaces. 550 5.1.1 https://support.google.com/mail/?p=NoSuchUser\n"
            "Last-Attempt-Date: Tue, 01 Dec 2026 00:15:03 -0800 (PST)\n"
        ),
        original_headers=_original(message, bounce_address),
    )
