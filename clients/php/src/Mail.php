<?php

declare(strict_types=1);

namespace MailPass;

/**
 * The Mail Send API (permission "mail"): send, sendBatch, status, cancel. Each returns the
 * decoded answer, so $result['data']['message_id'] reads as on the product page.
 */
final class Mail
{
    public function __construct(private readonly HttpClient $http)
    {
    }

    /**
     * Send one message now (or schedule it with 'send_at').
     *
     * Every attempt of this call carries the same Idempotency-Key: $options['idempotency_key']
     * when given, else a new random one, so a retry after a lost answer never sends twice.
     *
     * @param array<string, mixed> $message the fields of POST /api/v1/mail/send
     * @param array{idempotency_key?: string} $options
     * @return array<string, mixed>
     */
    public function send(array $message, array $options = []): array
    {
        return $this->http->request('POST', '/api/v1/mail/send', $message, self::idempotency($options));
    }

    /**
     * Queue 1..100 messages: the body of POST /api/v1/mail/send-batch (['messages' => [...],
     * 'from_email' => ...]), or just the list of messages.
     *
     * @param array<mixed> $batch
     * @param array{idempotency_key?: string} $options
     * @return array<string, mixed>
     */
    public function sendBatch(array $batch, array $options = []): array
    {
        if (array_is_list($batch)) {
            $batch = ['messages' => $batch];
        }
        return $this->http->request('POST', '/api/v1/mail/send-batch', $batch, self::idempotency($options));
    }

    /**
     * The message and its events, oldest first ('<id@host>' with or without the brackets).
     *
     * @return array<string, mixed>
     */
    public function status(string $messageId): array
    {
        return $this->http->request('GET', '/api/v1/mail/status/' . rawurlencode($messageId));
    }

    /**
     * Cancel a scheduled or queued message (ApiException NOT_CANCELABLE when it is past that).
     * Repeating it is harmless, so a lost answer is retried.
     *
     * @return array<string, mixed>
     */
    public function cancel(string $messageId): array
    {
        return $this->http->request('POST', '/api/v1/mail/cancel/' . rawurlencode($messageId), null, [], true);
    }

    /**
     * @param array{idempotency_key?: string} $options
     * @return array<string, string>
     */
    private static function idempotency(array $options): array
    {
        $key = $options['idempotency_key'] ?? null;
        if ($key === null || $key === '') {
            $bytes = random_bytes(16);
            $bytes[6] = chr(ord($bytes[6]) & 0x0f | 0x40);
            $bytes[8] = chr(ord($bytes[8]) & 0x3f | 0x80);
            $key = vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
        }
        return ['Idempotency-Key' => $key];
    }
}
