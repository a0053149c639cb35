<?php

declare(strict_types=1);

namespace MailPass;

/**
 * The server answered an error (API.md section 2): its code (VALIDATION_ERROR, UNAUTHORIZED,
 * FORBIDDEN, NOT_FOUND, IDEMPOTENCY_CONFLICT, NOT_CANCELABLE, NO_SMTP_PROVIDER,
 * RECIPIENT_SUPPRESSED, SEND_LIMIT_EXCEEDED, RATE_LIMITED, SEND_FAILED, ...), the HTTP status
 * and the details object (field errors, the send limit's window, a failed message's id).
 */
class ApiException extends MailPassException
{
    /**
     * @param array<string, mixed>  $details
     * @param array<string, string> $headers response headers, names in lower case
     */
    public function __construct(
        string $message,
        private readonly string $errorCode,
        private readonly int $status,
        private readonly array $details = [],
        private readonly array $headers = [],
    ) {
        parent::__construct($message, $status);
    }

    /** The API's error code, e.g. "VALIDATION_ERROR". */
    public function getErrorCode(): string
    {
        return $this->errorCode;
    }

    /** The HTTP status, e.g. 400. */
    public function getStatus(): int
    {
        return $this->status;
    }

    /** @return array<string, mixed> the error's details ([] when there are none) */
    public function getDetails(): array
    {
        return $this->details;
    }

    /** @return array<string, string> */
    public function getHeaders(): array
    {
        return $this->headers;
    }

    /** Seconds the server asked to wait (Retry-After), null when it did not say. */
    public function getRetryAfter(): ?float
    {
        return HttpClient::retryAfterSeconds($this->headers['retry-after'] ?? null);
    }
}
