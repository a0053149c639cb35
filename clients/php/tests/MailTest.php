<?php

declare(strict_types=1);

namespace MailPass\Tests;

use MailPass\ApiException;

final class MailTest extends ServerTestCase
{
    public function testSendAnswersTheMessageIdAndStatusReadsItBack(): void
    {
        $client = $this->client();

        $result = $client->mail->send([
            'to' => 'php-user@example.com',
            'subject' => 'Order Confirmation',
            'html' => '<h1>Your order has been confirmed</h1>',
            'text' => 'Your order has been confirmed',
            'from_email' => 'support@yourdomain.com',
            'from_name' => 'Your App',
            'reply_to' => 'reply@yourdomain.com',
            'cc' => ['cc@example.com'],
            'bcc' => ['bcc@example.com'],
            'tags' => ['order', 'confirmation'],
            'metadata' => ['order_id' => '12345'],
            'attachments' => [
                ['filename' => 'invoice.txt', 'content' => base64_encode("total: 42\n")],
            ],
        ]);

        $this->assertTrue($result['success']);
        $this->assertSame('sent', $result['data']['status']);
        $this->assertSame('php-user@example.com', $result['data']['to']);
        $this->assertSame('support@yourdomain.com', $result['data']['from']);
        $this->assertMatchesRegularExpression('/^<[^<>]+@[^<>]+>$/', $result['data']['message_id']);
        $this->report('sent_message_id', $result['data']['message_id']);

        $status = $client->mail->status($result['data']['message_id']);
        $message = $status['data']['message'];
        $this->assertSame('sent', $message['status']);
        $this->assertSame(['cc@example.com'], $message['cc']);
        $this->assertSame(['order_id' => '12345'], $message['metadata']);
        $this->assertSame('invoice.txt', $message['attachments'][0]['filename']);
        $this->assertSame(['sent'], array_column($status['data']['events'], 'event_type'));
    }

    public function testABatchQueuesEachItemAndReportsABadOne(): void
    {
        $client = $this->client();

        $result = $client->mail->sendBatch([
            'messages' => [
                ['to' => 'php-a@example.com', 'subject' => 'Hi A', 'html' => '<p>Hello A</p>'],
                ['to' => 'php-b@example.com', 'subject' => 'Hi B', 'html' => '<p>Hello B</p>'],
                ['to' => 'not-an-address', 'subject' => 'Hi C', 'html' => '<p>Hello C</p>'],
            ],
            'from_email' => 'support@yourdomain.com',
        ]);

        $data = $result['data'];
        $this->assertSame([3, 2, 1], [$data['total'], $data['queued'], $data['failed']]);
        $this->assertSame(['queued', 'queued', 'failed'], array_column($data['messages'], 'status'));
        $this->assertSame('VALIDATION_ERROR', $data['messages'][2]['error']['code']);
        foreach (array_slice($data['messages'], 0, 2) as $item) {
            $this->report('batch_message_id', $item['message_id']);
            $this->assertContains($this->statusWhenSent($item['message_id']), ['sent']);
        }
    }

    public function testAListOfMessagesIsABatchToo(): void
    {
        $result = $this->client()->mail->sendBatch([
            ['to' => 'php-list@example.com', 'subject' => 'Hi', 'text' => 'Hello'],
        ]);

        $this->assertSame(1, $result['data']['queued']);
        $this->report('batch_message_id', $result['data']['messages'][0]['message_id']);
        $this->statusWhenSent($result['data']['messages'][0]['message_id']);
    }

    public function testAScheduledSendIsCanceledAndNeverSent(): void
    {
        $client = $this->client();
        $sendAt = gmdate('Y-m-d\TH:i:s\Z', time() + 3600);

        $result = $client->mail->send([
            'to' => 'php-later@example.com', 'subject' => 'Later', 'text' => 'Not now', 'send_at' => $sendAt,
        ]);
        $messageId = $result['data']['message_id'];

        $this->assertSame('scheduled', $result['data']['status']);
        $this->assertSame($sendAt, $result['data']['send_at']);
        $canceled = $client->mail->cancel($messageId);
        $this->assertSame(['message_id' => $messageId, 'status' => 'canceled'], $canceled['data']);
        // Without the angle brackets too.
        $status = $client->mail->status(trim($messageId, '<>'));
        $this->assertSame('canceled', $status['data']['message']['status']);
        $this->report('canceled_message_id', $messageId);
    }

    public function testASentMessageIsNotCancelable(): void
    {
        $client = $this->client();
        $result = $client->mail->send(['to' => 'php-user@example.com', 'subject' => 'Now', 'text' => 'Now']);

        try {
            $client->mail->cancel($result['data']['message_id']);
            $this->fail('cancel of a sent message did not throw');
        } catch (ApiException $e) {
            $this->assertSame('NOT_CANCELABLE', $e->getErrorCode());
            $this->assertSame(409, $e->getStatus());
            $this->assertSame('sent', $e->getDetails()['status']);
        }
    }

    public function testTheSameIdempotencyKeyAnswersTheFirstSendAgain(): void
    {
        $client = $this->client();
        $key = 'php-order-' . bin2hex(random_bytes(8));
        $message = ['to' => 'php-once@example.com', 'subject' => 'Once', 'text' => 'Once'];

        $first = $client->mail->send($message, ['idempotency_key' => $key]);
        $again = $client->mail->send($message, ['idempotency_key' => $key]);

        // The replay is the stored answer: equal, its keys maybe in another order.
        $this->assertEquals($first, $again);
        $this->report('idempotent_message_id', $first['data']['message_id']);
    }

    public function testTheBaseUrlComesFromTheEnvironment(): void
    {
        $this->assertSame(rtrim($this->env('MAILPASS_BASE_URL'), '/'), $this->client()->baseUrl());
        $this->assertSame('http://mail.example.test', $this->client(['base_url' => 'http://mail.example.test/'])->baseUrl());
    }

    private function statusWhenSent(string $messageId): string
    {
        $client = $this->client();
        $deadline = microtime(true) + 20;
        do {
            $status = $client->mail->status($messageId)['data']['message']['status'];
            if ($status === 'sent') {
                return $status;
            }
            usleep(200_000);
        } while (microtime(true) < $deadline);
        return $status;
    }
}
