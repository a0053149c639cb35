<?php

declare(strict_types=1);

namespace MailPass;

/**
 * HTTP over ext-curl: the Bearer key, JSON both ways, errors as ApiException, and retries that
 * never send twice.
 *
 * Retried (up to max_retries): 429 and 503 answers (the server did nothing) after Retry-After,
 * unless it is longer than max_retry_wait; a 409 IDEMPOTENCY_CONFLICT whose first request is
 * still in progress; a connection that could not be made; and a lost answer (connection dropped,
 * timeout) of a request that may be repeated: GET/PUT/DELETE, cancel, and every send, which
 * carries one Idempotency-Key for all its attempts so the server answers a repeat with the
 * first answer instead of sending again.
 */
final class HttpClient
{
    public const VERSION = '0.1.0';
    public const DEFAULT_BASE_URL = 'http://127.0.0.1:8000';

    private readonly string $baseUrl;
    private readonly float $timeout;
    private readonly float $connectTimeout;
    private readonly int $maxRetries;
    private readonly float $maxRetryWait;

    /**
     * @param array{base_url?: string, timeout?: float|int, connect_timeout?: float|int,
     *              max_retries?: int, max_retry_wait?: float|int} $options
     */
    public function __construct(private readonly string $apiKey, array $options = [])
    {
        if ($apiKey === '') {
            throw new \InvalidArgumentException('An API key is required (mp_live_... or mp_test_...).');
        }
        $env = getenv('MAILPASS_BASE_URL');
        $base = $options['base_url'] ?? (is_string($env) && $env !== '' ? $env : self::DEFAULT_BASE_URL);
        $this->baseUrl = rtrim($base, '/');
        $this->timeout = (float) ($options['timeout'] ?? 30);
        $this->connectTimeout = (float) ($options['connect_timeout'] ?? 10);
        $this->maxRetries = (int) ($options['max_retries'] ?? 2);
        $this->maxRetryWait = (float) ($options['max_retry_wait'] ?? 60);
    }

    public function baseUrl(): string
    {
        return $this->baseUrl;
    }

    /**
     * The decoded answer (['success' => true, 'data' => [...]]).
     *
     * @param array<mixed>|null     $body    sent as JSON
     * @param array<string, string> $headers extra request headers
     * @return array<string, mixed>
     */
    public function request(
        string $method,
        string $path,
        ?array $body = null,
        array $headers = [],
        ?bool $repeatable = null,
    ): array {
        $method = strtoupper($method);
        $repeatable ??= in_array($method, ['GET', 'HEAD', 'PUT', 'DELETE'], true)
            || isset($headers['Idempotency-Key']);
        $lines = [
            'Authorization: Bearer ' . $this->apiKey,
            'Accept: application/json',
            'User-Agent: mailpass-php/' . self::VERSION,
        ];
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        $payload = null;
        if ($body !== null) {
            $payload = json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
            $lines[] = 'Content-Type: application/json';
        }
        for ($attempt = 0; ; $attempt++) {
            [$status, $responseHeaders, $responseBody, $error] = $this->send($method, $path, $lines, $payload);
            if ($error !== null) {
                [$message, $reachedServer] = $error;
                if ($attempt < $this->maxRetries && (!$reachedServer || $repeatable)) {
                    self::wait(self::backoff($attempt));
                    continue;
                }
                throw new TransportException("$method $path: $message");
            }
            $decoded = json_decode($responseBody, true);
            if ($status >= 200 && $status < 300 && is_array($decoded) && ($decoded['success'] ?? null) === true) {
                return $decoded;
            }
            $exception = self::apiException($status, $decoded, $responseBody, $responseHeaders);
            $delay = $this->retryDelay($attempt, $exception);
            if ($delay === null) {
                throw $exception;
            }
            self::wait($delay);
        }
    }

    /**
     * One attempt: [status, headers, body, null] or [0, [], '', [message, reached server?]].
     *
     * @param list<string> $lines
     * @return array{0: int, 1: array<string, string>, 2: string, 3: array{0: string, 1: bool}|null}
     */
    private function send(string $method, string $path, array $lines, ?string $payload): array
    {
        $responseHeaders = [];
        $handle = curl_init($this->baseUrl . $path);
        curl_setopt_array($handle, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_HTTPHEADER => $lines,
            CURLOPT_TIMEOUT_MS => (int) ($this->timeout * 1000),
            CURLOPT_CONNECTTIMEOUT_MS => (int) ($this->connectTimeout * 1000),
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_HEADERFUNCTION => static function ($handle, string $line) use (&$responseHeaders): int {
                $parts = explode(':', $line, 2);
                if (count($parts) === 2) {
                    $responseHeaders[strtolower(trim($parts[0]))] = trim($parts[1]);
                }
                return strlen($line);
            },
        ]);
        if ($payload !== null) {
            curl_setopt($handle, CURLOPT_POSTFIELDS, $payload);
        }
        $body = curl_exec($handle);
        if ($body === false) {
            $errno = curl_errno($handle);
            $message = curl_error($handle);
            // Nothing reached the server when no connection was made.
            $connected = curl_getinfo($handle, CURLINFO_PRETRANSFER_TIME) > 0;
            $notSent = in_array($errno, [CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT], true) || !$connected;
            curl_close($handle);
            return [0, [], '', ["curl error $errno: $message", !$notSent]];
        }
        $status = (int) curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        curl_close($handle);
        return [$status, $responseHeaders, (string) $body, null];
    }

    private function retryDelay(int $attempt, ApiException $exception): ?float
    {
        if ($attempt >= $this->maxRetries) {
            return null;
        }
        $status = $exception->getStatus();
        if ($status === 409) {
            if (empty($exception->getDetails()['in_progress'])) {
                return null;
            }
        } elseif ($status !== 429 && $status !== 503) {
            return null;
        }
        $wait = $exception->getRetryAfter();
        if ($wait === null) {
            return self::backoff($attempt);
        }
        return $wait > $this->maxRetryWait ? null : $wait;
    }

    /**
     * @param array<string, string> $headers
     */
    private static function apiException(int $status, mixed $decoded, string $body, array $headers): ApiException
    {
        $error = is_array($decoded) ? ($decoded['error'] ?? null) : null;
        if (is_array($error) && isset($error['code'])) {
            $details = $error['details'] ?? [];
            return new ApiException(
                (string) ($error['message'] ?? $error['code']),
                (string) $error['code'],
                $status,
                is_array($details) ? $details : ['details' => $details],
                $headers,
            );
        }
        // Not the API's envelope: a proxy's page, a load balancer's 502.
        $code = $status >= 500 ? 'INTERNAL_ERROR' : 'HTTP_ERROR';
        return new ApiException("HTTP $status: " . substr($body, 0, 200), $code, $status, [], $headers);
    }

    /** Retry-After as seconds: whole seconds from the API, an HTTP date read too. */
    public static function retryAfterSeconds(?string $value): ?float
    {
        if ($value === null || trim($value) === '') {
            return null;
        }
        $value = trim($value);
        if (is_numeric($value)) {
            return max(0.0, (float) $value);
        }
        $when = strtotime($value);
        return $when === false ? null : max(0.0, (float) ($when - time()));
    }

    private static function backoff(int $attempt): float
    {
        // 0.5 s, 1 s, 2 s ... up to 8 s, with jitter.
        return min(0.5 * 2 ** $attempt, 8.0) * (0.5 + mt_rand() / mt_getrandmax() / 2);
    }

    private static function wait(float $seconds): void
    {
        usleep((int) round($seconds * 1_000_000));
    }
}
