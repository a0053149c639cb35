<?php

declare(strict_types=1);

namespace MailPass;

/**
 * No answer from the server (connection refused, timeout, connection dropped), after the
 * retries that were safe to make.
 */
class TransportException extends MailPassException
{
}
