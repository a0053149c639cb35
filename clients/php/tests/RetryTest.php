<?php

declare(strict_types=1);

namespace MailPass\Tests;

use MailPass\TransportException;

/**
 * A lost answer is retried with the same Idempotency-Key, and the server sends once.
 *
 * MAILPASS_PROXY_URL forwards each request but drops the answer to the first request of every
 * Idempotency-Key; the parent test counts the noted messages in the SMTP sink: one each.
 *
 * @group retry
 */
final class RetryTest extends ServerTestCase
{
    private function throughProxy(array $options = []): \MailPass\Client
    {
        return $this->client(['base_url' => $this->env('MAILPASS_PROXY_URL')] + $options);
    }

    public function testASendWhoseAnswerIsLostIsRetriedAndSentOnce(): void
    {
        $result = $this->throughProxy()->mail->send([
            'to' => 'php-retry@example.com', 'subject' => 'Retried once', 'text' => 'Once',
        ]);

        $this->assertSame('sent', $result['data']['status']);
        $this->report('retried_message_id', $result['data']['message_id']);
    }

    public function testABatchWhoseAnswerIsLostIsRetriedAndQueuedOnce(): void
    {
        $result = $this->throughProxy()->mail->sendBatch([
            ['to' => 'php-batch-retry-a@example.com', 'subject' => 'Batch retried', 'text' => 'A'],
            ['to' => 'php-batch-retry-b@example.com', 'subject' => 'Batch retried', 'text' => 'B'],
        ]);

        $this->assertSame(2, $result['data']['queued']);
        foreach ($result['data']['messages'] as $item) {
            $this->report('retried_batch_message_id', $item['message_id']);
        }
    }

    public function testWithoutRetriesTheLossIsThrownAndTheSameKeyReplaysTheFirstSend(): void
    {
        $client = $this->throughProxy(['max_retries' => 0]);
        $key = 'php-replay-' . bin2hex(random_bytes(8));
        $message = ['to' => 'php-replay@example.com', 'subject' => 'Replayed', 'text' => 'Once'];
        try {
            $client->mail->send($message, ['idempotency_key' => $key]);
            $this->fail('the lost answer was not thrown');
        } catch (TransportException $e) {
            $this->assertStringContainsString('curl error', $e->getMessage());
        }

        $again = $client->mail->send($message, ['idempotency_key' => $key]);

        $this->assertSame('sent', $again['data']['status']);
        $this->report('replayed_message_id', $again['data']['message_id']);
    }
}
