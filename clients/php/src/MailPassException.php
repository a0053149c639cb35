<?php

declare(strict_types=1);

namespace MailPass;

/**
 * Base class of every exception this library throws.
 */
class MailPassException extends \RuntimeException
{
}
