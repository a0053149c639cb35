<?php

// Runs product-page.php, the PHP example of MailPass's product page, exactly as it is written
// there, after the two steps its reader takes by hand: the Composer autoloader is loaded, and
// the placeholder key 'mp_live_YOUR_KEY' is replaced (here, in memory; the file is untouched)
// by the key in MAILPASS_API_KEY. A real key has 43 random characters after "mp_live_", so the
// placeholder itself can never be one. The server is MAILPASS_BASE_URL, as the client reads it.
//
//     MAILPASS_BASE_URL=http://127.0.0.1:8000 MAILPASS_API_KEY=mp_live_... php examples/run-product-page.php

declare(strict_types=1);

require __DIR__ . '/../vendor/autoload.php';

$key = getenv('MAILPASS_API_KEY');
if (!is_string($key) || $key === '') {
    fwrite(STDERR, "Set MAILPASS_API_KEY to your key (mp_live_...).\n");
    exit(2);
}
$snippet = file_get_contents(__DIR__ . '/product-page.php');
$code = str_replace("'mp_live_YOUR_KEY'", var_export($key, true), $snippet, $replaced);
if ($replaced !== 1) {
    fwrite(STDERR, "product-page.php no longer has the placeholder key 'mp_live_YOUR_KEY'.\n");
    exit(2);
}
eval('?>' . $code);
