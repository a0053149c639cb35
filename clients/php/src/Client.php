<?php

declare(strict_types=1);

namespace MailPass;

/**
 * The MailPass API with one key.
 *
 *     $client = new MailPass\Client('mp_live_...');
 *     $result = $client->mail->send(['to' => 'user@example.com', 'subject' => 'Hello',
 *                                    'html' => '<p>Hello World</p>']);
 *     echo $result['data']['message_id'];
 *
 * Options: 'base_url' (else the MAILPASS_BASE_URL environment variable, else
 * http://127.0.0.1:8000), 'timeout' (seconds for a whole request, default 30),
 * 'connect_timeout' (default 10), 'max_retries' (default 2), 'max_retry_wait' (the longest
 * Retry-After worth waiting for, default 60).
 */
final class Client
{
    public readonly Mail $mail;
    private readonly HttpClient $http;

    /**
     * @param array{base_url?: string, timeout?: float|int, connect_timeout?: float|int,
     *              max_retries?: int, max_retry_wait?: float|int} $options
     */
    public function __construct(string $apiKey, array $options = [])
    {
        $this->http = new HttpClient($apiKey, $options);
        $this->mail = new Mail($this->http);
    }

    public function baseUrl(): string
    {
        return $this->http->baseUrl();
    }
}
