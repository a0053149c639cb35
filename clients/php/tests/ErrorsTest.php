<?php

declare(strict_types=1);

namespace MailPass\Tests;

use MailPass\ApiException;
use MailPass\Client;
use MailPass\MailPassException;
use MailPass\TransportException;

final class ErrorsTest extends ServerTestCase
{
    private function caught(callable $call): ApiException
    {
        try {
            $call();
        } catch (ApiException $e) {
            return $e;
        }
        $this->fail('no ApiException was thrown');
    }

    public function testAnUnknownKeyIsUnauthorized(): void
    {
        $client = $this->client([], 'mp_live_' . str_repeat('x', 43));

        $e = $this->caught(fn () => $client->mail->status('<nothing@mailpass.im>'));

        $this->assertSame(['UNAUTHORIZED', 401, []], [$e->getErrorCode(), $e->getStatus(), $e->getDetails()]);
        $this->assertInstanceOf(MailPassException::class, $e);
    }

    public function testAKeyWithoutTheMailPermissionIsForbidden(): void
    {
        $client = $this->client([], $this->env('MAILPASS_TEMPLATES_ONLY_KEY'));

        $e = $this->caught(fn () => $client->mail->send(['to' => 'a@example.com', 'subject' => 'Hi', 'text' => 'x']));

        $this->assertSame(['FORBIDDEN', 403], [$e->getErrorCode(), $e->getStatus()]);
    }

    public function testAnInvalidFieldIsAValidationErrorNamingIt(): void
    {
        $e = $this->caught(fn () => $this->client()->mail->send(['to' => 'not-an-address', 'subject' => 'Hi', 'text' => 'x']));

        $this->assertSame(['VALIDATION_ERROR', 400], [$e->getErrorCode(), $e->getStatus()]);
        $this->assertArrayHasKey('to', $e->getDetails());
    }

    public function testAnUnknownMessageIsNotFound(): void
    {
        $e = $this->caught(fn () => $this->client()->mail->status('<unknown.1@mailpass.im>'));

        $this->assertSame(['NOT_FOUND', 404], [$e->getErrorCode(), $e->getStatus()]);
    }

    public function testAnIdempotencyKeyReusedWithAnotherBodyIsAConflict(): void
    {
        $client = $this->client();
        $key = 'php-' . bin2hex(random_bytes(8));
        $client->mail->send(['to' => 'a@example.com', 'subject' => 'First', 'text' => '1'], ['idempotency_key' => $key]);

        $e = $this->caught(fn () => $client->mail->send(
            ['to' => 'a@example.com', 'subject' => 'Second', 'text' => '2'],
            ['idempotency_key' => $key],
        ));

        $this->assertSame(['IDEMPOTENCY_CONFLICT', 409], [$e->getErrorCode(), $e->getStatus()]);
        $this->assertSame($key, $e->getDetails()['idempotency_key']);
    }

    public function testAnAccountWithoutAProviderIsUnprocessable(): void
    {
        $client = $this->client([], $this->env('MAILPASS_NO_PROVIDER_KEY'));

        $e = $this->caught(fn () => $client->mail->send(['to' => 'a@example.com', 'subject' => 'Hi', 'text' => 'x']));

        $this->assertSame(['NO_SMTP_PROVIDER', 422], [$e->getErrorCode(), $e->getStatus()]);
    }

    public function testNoServerIsATransportException(): void
    {
        $client = new Client('mp_live_' . str_repeat('x', 43), ['base_url' => 'http://127.0.0.1:9', 'max_retries' => 1]);

        $this->expectException(TransportException::class);
        $client->mail->status('<x@mailpass.im>');
    }

    public function testAnEmptyKeyIsRefusedAtOnce(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        new Client('');
    }
}
