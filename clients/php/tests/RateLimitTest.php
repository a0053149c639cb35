<?php

declare(strict_types=1);

namespace MailPass\Tests;

use MailPass\ApiException;

/**
 * RATE_LIMITED from the real server. Run alone (phpunit --group ratelimit) against a server
 * whose API rate is lowered to a few requests a second; tests/clients/ does.
 *
 * @group ratelimit
 */
final class RateLimitTest extends ServerTestCase
{
    public function testWithoutRetriesTheClientThrowsRateLimitedWithRetryAfter(): void
    {
        $client = $this->client(['max_retries' => 0]);

        try {
            for ($i = 0; $i < 50; $i++) {
                $client->mail->status('<unknown.1@mailpass.im>');
            }
            $this->fail('50 requests were not rate limited');
        } catch (ApiException $e) {
            if ($e->getErrorCode() === 'NOT_FOUND') {
                // NOT_FOUND answers count against the rate too: ask again at once.
                $e = $this->untilRateLimited($client);
            }
        }

        $this->assertSame(['RATE_LIMITED', 429], [$e->getErrorCode(), $e->getStatus()]);
        $this->assertGreaterThanOrEqual(1, $e->getRetryAfter());
    }

    public function testWithRetriesEveryCallWaitsOutRetryAfterAndSucceeds(): void
    {
        $client = $this->client(['max_retries' => 3]);
        $sent = $client->mail->send(['to' => 'php-rate@example.com', 'subject' => 'Rate', 'text' => 'x']);

        // More calls than the rate allows in one window: each one over it waits and succeeds.
        for ($i = 0; $i < 8; $i++) {
            $status = $client->mail->status($sent['data']['message_id']);
            $this->assertTrue($status['success']);
        }
    }

    private function untilRateLimited(\MailPass\Client $client): ApiException
    {
        for ($i = 0; $i < 50; $i++) {
            try {
                $client->mail->status('<unknown.1@mailpass.im>');
            } catch (ApiException $e) {
                if ($e->getErrorCode() !== 'NOT_FOUND') {
                    return $e;
                }
            }
        }
        $this->fail('50 requests were not rate limited');
    }
}
