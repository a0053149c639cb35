<?php

declare(strict_types=1);

namespace MailPass\Tests;

use MailPass\Client;
use PHPUnit\Framework\TestCase;

/**
 * Tests against a running MailPass. tests/clients/ in the MailPass repository starts one and
 * runs phpunit with: MAILPASS_BASE_URL, MAILPASS_API_KEY (every permission),
 * MAILPASS_TEMPLATES_ONLY_KEY, MAILPASS_NO_PROVIDER_KEY (an account without a provider),
 * MAILPASS_PROXY_URL (drops the answer to the first request of each Idempotency-Key) and
 * MAILPASS_TEST_REPORT (a JSON file of facts the parent checks in the SMTP sink). The groups
 * "retry" (needs MAILPASS_PROXY_URL) and "ratelimit" (needs a lowered API rate) run on their own.
 */
abstract class ServerTestCase extends TestCase
{
    protected function env(string $name): string
    {
        $value = getenv($name);
        if (!is_string($value) || $value === '') {
            $this->markTestSkipped("$name is not set: these tests need a running MailPass");
        }
        return $value;
    }

    /** @param array<string, mixed> $options */
    protected function client(array $options = [], ?string $key = null): Client
    {
        $this->env('MAILPASS_BASE_URL');
        return new Client($key ?? $this->env('MAILPASS_API_KEY'), $options);
    }

    /** Note a fact for the parent test. */
    protected function report(string $name, mixed $value): void
    {
        $path = getenv('MAILPASS_TEST_REPORT');
        if (!is_string($path) || $path === '') {
            return;
        }
        $facts = is_file($path) && filesize($path) > 0
            ? json_decode((string) file_get_contents($path), true, 512, JSON_THROW_ON_ERROR)
            : [];
        $facts[$name][] = $value;
        file_put_contents($path, json_encode($facts, JSON_THROW_ON_ERROR));
    }
}
