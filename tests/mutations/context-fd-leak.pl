# aio_context_new() forgets to close its eventfd when a later step fails
# (the fd monitor refused): an fd leaks on every failed creation.
$file  = 'src/aio/context.c';
$match = qr{(fail_notifier:\n\s*)event_notifier_cleanup\(&ctx->notifier\);};
$subst = sub { "$1/* mutation: eventfd not closed */" };
