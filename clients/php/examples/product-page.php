<?php

$client = new MailPass\Client('mp_live_YOUR_KEY');
// Single send
$result = $client->mail->send([
'to' => 'user@example.com',
'subject' => 'Hello',
'html' => '<p>Hello World</p>',
]);
echo $result['data']['message_id'];
